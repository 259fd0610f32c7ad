"""Work on untrusted media: the sandbox every ffmpeg run and every probe goes through (sandbox.py)."""
