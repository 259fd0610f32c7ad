"""The object-store port (`objects.py`) and its adapters (`filesystem.py`, `s3.py` with
`s3_multipart.py`).

Every service reads and writes published bytes through `ObjectStore`; nothing else
touches the filesystem layout or the minio and boto3 SDKs directly.
"""
