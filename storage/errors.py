"""Object-store errors.

StorageError                 base class; `retryable` tells a worker whether to try again
 +-- ObjectMissing           the key does not exist (never retryable)
 +-- MultipartUploadMissing  the multipart upload id is unknown: completed, aborted or never made
 +-- InvalidKey              a key that would escape its bucket or is malformed
 +-- StorageUnavailable      the backend could not be reached or failed transiently (retryable)
"""

from __future__ import annotations


class StorageError(Exception):
    retryable = False


class ObjectMissing(StorageError):
    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"no object {key!r} in bucket {bucket!r}")
        self.bucket = bucket
        self.key = key


class MultipartUploadMissing(StorageError):
    def __init__(self, bucket: str, key: str, upload_id: str) -> None:
        super().__init__(f"no multipart upload {upload_id!r} of {key!r} in bucket {bucket!r}")
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id


class InvalidKey(StorageError):
    pass


class StorageUnavailable(StorageError):
    retryable = True
