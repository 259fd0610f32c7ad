"""Celery + FFmpeg pipeline: probe an original, encode an aligned ABR ladder, publish HLS/DASH."""
