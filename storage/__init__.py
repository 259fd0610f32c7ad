"""The object-store port (`objects.py`) and its adapters (`filesystem.py`, `s3.py`).

Every service reads and writes published bytes through `ObjectStore`; nothing else
touches the filesystem layout or the minio SDK directly.
"""
