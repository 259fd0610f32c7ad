"""Build the configured object store."""

from __future__ import annotations

from storage.objects import ObjectStore
from storage.settings import StorageSettings


def open_store(settings: StorageSettings) -> ObjectStore:
    """The store named by the settings, with the staging and media buckets created."""
    store: ObjectStore
    if settings.backend == "s3":
        from storage.s3 import S3ObjectStore

        store = S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
            bucket_prefix=settings.s3_bucket_prefix,
        )
    else:
        from storage.filesystem import FilesystemObjectStore

        store = FilesystemObjectStore(settings.root)
    for bucket in (settings.staging_bucket, settings.media_bucket):
        store.ensure_bucket(bucket)
    return store
