"""Untrusted media: probing an original (probe.py, in a sandboxed child: probe_sandbox.py and its
command probe_cli.py), its settings and errors, and the sandbox every ffmpeg run and every probe goes
through (sandbox.py). Imports nothing of ingest or the transcoder."""
