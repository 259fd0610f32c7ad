"""S3 object store through the minio SDK (MinIO in production; moto's server in tests).

Only this module imports minio; SDK errors are translated into storage.errors here. Multipart uploads,
which minio-py keeps private, are the `multipart` capability, through boto3 in `s3_multipart.py`.
minio keeps the simple calls: its public API covers them, and a ranged GET through it cost ~20% less
time than through boto3 against moto's server (the origin's read path); neither SDK leaks past
storage/, so serving everything through one SDK stays a change to this package alone.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, timedelta
from functools import partial
from pathlib import Path
from typing import BinaryIO

import urllib3
from minio import Minio
from minio import lifecycleconfig as lc
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error

from storage.errors import ObjectMissing, StorageError, StorageUnavailable
from storage.objects import CHUNK_SIZE, Capabilities, Chunks, LifecycleRules, ObjectInfo, check_key
from storage.s3_multipart import S3MultipartUploads, connect

_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "NoSuchObject"}
# minio uploads in parts of this size; 16 MiB keeps memory small and stays far from 10,000 parts.
PART_SIZE = 16 * 1024 * 1024


def _translate(exc: Exception, bucket: str, key: str) -> StorageError:
    if isinstance(exc, S3Error):
        if exc.code in _MISSING_CODES:
            return ObjectMissing(bucket, key)
        if exc.code in {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"}:
            return StorageUnavailable(f"S3 {exc.code} on {bucket}/{key}: {exc.message}")
        return StorageError(f"S3 {exc.code} on {bucket}/{key}: {exc.message}")
    return StorageUnavailable(f"S3 unreachable for {bucket}/{key}: {exc}")


_TRANSIENT = (S3Error, urllib3.exceptions.HTTPError, OSError)


class S3BucketLifecycle:
    """storage.objects.BucketLifecycle: S3 bucket lifecycle configurations, through minio's public calls."""

    def __init__(self, client: Minio, bucket_prefix: str) -> None:
        self.client = client
        self.bucket_prefix = bucket_prefix

    def set_rules(self, bucket: str, rules: LifecycleRules) -> None:
        every = Filter(prefix="")
        config = [
            lc.Rule(
                ENABLED,
                rule_filter=every,
                rule_id=t.rule_id,
                transition=lc.Transition(days=t.days, storage_class=t.storage_class),
            )
            for t in rules.transitions
        ]
        if rules.abort_multipart_days is not None:
            abort = lc.AbortIncompleteMultipartUpload(rules.abort_multipart_days)
            config.append(
                lc.Rule(
                    ENABLED,
                    rule_filter=every,
                    rule_id="vodstack-abort-multipart",
                    abort_incomplete_multipart_upload=abort,
                )
            )
        try:
            self.client.set_bucket_lifecycle(f"{self.bucket_prefix}{bucket}", lc.LifecycleConfig(config))
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, "") from exc


class S3ObjectStore:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        region: str | None = None,
        bucket_prefix: str = "",
    ) -> None:
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region)
        # Lets several deployments (or test runs) share one S3 account without colliding.
        self.bucket_prefix = bucket_prefix
        boto3_client = partial(connect, endpoint, access_key, secret_key, secure=secure, region=region)
        self.capabilities = Capabilities(
            multipart=S3MultipartUploads(boto3_client, bucket_prefix),
            lifecycle=S3BucketLifecycle(self.client, bucket_prefix),
        )

    def _b(self, bucket: str) -> str:
        return f"{self.bucket_prefix}{bucket}"

    def ensure_bucket(self, bucket: str) -> None:
        try:
            if not self.client.bucket_exists(bucket_name=self._b(bucket)):
                self.client.make_bucket(bucket_name=self._b(bucket))
        except S3Error as exc:
            if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise _translate(exc, bucket, "") from exc
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, "") from exc

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, length: int, content_type: str | None = None
    ) -> ObjectInfo:
        check_key(key)
        try:
            # S3 PUT (and multipart complete) is atomic: readers never see a partial object.
            self.client.put_object(
                bucket_name=self._b(bucket),
                object_name=key,
                data=stream,
                length=length,
                content_type=content_type or "application/octet-stream",
                part_size=PART_SIZE if length > PART_SIZE else 0,
            )
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, key) from exc
        return self.stat(bucket, key)

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> ObjectInfo:
        size = Path(path).stat().st_size
        with open(path, "rb") as f:
            return self.put_stream(bucket, key, f, size, content_type)

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        return self.put_stream(bucket, key, io.BytesIO(data), len(data), content_type)

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        check_key(key)
        try:
            st = self.client.stat_object(bucket_name=self._b(bucket), object_name=key)
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, key) from exc
        modified = st.last_modified.astimezone(UTC) if st.last_modified else None
        return ObjectInfo(bucket, key, st.size or 0, (st.etag or "").strip('"'), modified, st.content_type)  # type: ignore[arg-type]

    def read_range(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_key(key)
        length = 0 if end is None else end - start + 1
        try:
            resp = self.client.get_object(bucket_name=self._b(bucket), object_name=key, offset=start, length=length)
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, key) from exc
        stream = resp.stream(CHUNK_SIZE)

        def release() -> None:
            resp.close()
            resp.release_conn()

        return Chunks(lambda: next(stream, b""), release)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return b"".join(self.read_range(bucket, key))

    def download(self, bucket: str, key: str, path: Path) -> None:
        check_key(key)
        try:
            self.client.fget_object(bucket_name=self._b(bucket), object_name=key, file_path=str(path))
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, key) from exc

    def local_path(self, bucket: str, key: str) -> Path | None:
        return None

    def read_url(self, bucket: str, key: str, expires: timedelta) -> str | None:
        """A presigned GET: ffmpeg reads the object by HTTP ranges with no credentials of its own."""
        check_key(key)
        try:
            return self.client.presigned_get_object(
                bucket_name=self._b(bucket), object_name=key, expires=min(expires, timedelta(days=7))
            )
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, key) from exc

    def delete(self, bucket: str, key: str) -> None:
        check_key(key)
        try:
            self.client.remove_object(bucket_name=self._b(bucket), object_name=key)
        except S3Error as exc:
            if exc.code not in _MISSING_CODES:
                raise _translate(exc, bucket, key) from exc
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, key) from exc

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        try:
            for obj in self.client.list_objects(bucket_name=self._b(bucket), prefix=prefix or None, recursive=True):
                if obj.is_dir or obj.object_name is None:
                    continue
                modified = obj.last_modified.astimezone(UTC) if obj.last_modified else None
                yield ObjectInfo(bucket, obj.object_name, obj.size or 0, (obj.etag or "").strip('"'), modified)  # type: ignore[arg-type]
        except _TRANSIENT as exc:
            raise _translate(exc, bucket, prefix) from exc
