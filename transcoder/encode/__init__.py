"""Encoding: ladder planning (ladder.py), ffmpeg argv (commands.py), running it (runner.py), its
progress (progress.py), thumbnails and storyboards (previews.py) and reading the original (source.py)."""
