"""S3 multipart uploads through boto3's public calls: the `multipart` capability of S3ObjectStore.

minio-py 7.2 keeps its multipart calls private and its next major release changes them; boto3's
(create_multipart_upload, upload_part, list_parts, complete_multipart_upload, abort_multipart_upload,
list_multipart_uploads) are its public, documented API. Only this module imports boto3; botocore's
errors become storage.errors here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.errors import MultipartUploadMissing, ObjectMissing, StorageError, StorageUnavailable
from storage.objects import PendingUpload, UploadedPart, check_key

# NoSuchKey: what some S3 servers answer for an upload id they no longer know.
_UPLOAD_MISSING = {"NoSuchUpload", "NoSuchKey"}
_TRANSIENT_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "500", "503"}


def translate(exc: Exception, bucket: str, key: str, upload_id: str | None) -> StorageError:
    """Our storage error for a botocore (or socket) error of a multipart call."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = error.get("Message", "")
        if code in _UPLOAD_MISSING and upload_id is not None:
            return MultipartUploadMissing(bucket, key, upload_id)
        if code in {"NoSuchBucket", "NoSuchKey"}:
            return ObjectMissing(bucket, key)
        if code in _TRANSIENT_CODES:
            return StorageUnavailable(f"S3 {code} on {bucket}/{key}: {message}")
        return StorageError(f"S3 {code} on {bucket}/{key}: {message}")
    return StorageUnavailable(f"S3 unreachable for {bucket}/{key}: {exc}")


_ERRORS = (ClientError, BotoCoreError, OSError)


def connect(endpoint: str, access_key: str, secret_key: str, *, secure: bool, region: str | None) -> Any:
    """A boto3 S3 client for an S3-compatible endpoint given as host:port, as minio takes it."""
    config = Config(
        signature_version="s3v4",
        # MinIO and moto serve buckets by path, not by virtual host names.
        s3={"addressing_style": "path"},
        # boto3 >= 1.36 adds CRC checksums to every part by default; S3-compatible servers (older MinIO
        # among them) may refuse them. Send them only where S3 requires them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # AWS_ENDPOINT_URL* in the environment must not redirect the endpoint we were given.
        ignore_configured_endpoint_urls=True,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"{'https' if secure else 'http'}://{endpoint}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region or "us-east-1",
        config=config,
    )


class S3MultipartUploads:
    """storage.objects.MultipartUploads on an S3 endpoint (MinIO in production, moto's server in tests)."""

    def __init__(self, connect: Callable[[], Any], bucket_prefix: str = "") -> None:
        self._connect = connect
        self.bucket_prefix = bucket_prefix
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        # Made on first use: loading botocore's service model takes time and memory that services which
        # never upload (origin, edge, transcoder) should not pay. A boto3 client is thread-safe.
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _b(self, bucket: str) -> str:
        return f"{self.bucket_prefix}{bucket}"

    def create(self, bucket: str, key: str, content_type: str | None = None) -> str:
        check_key(key)
        try:
            response = self.client.create_multipart_upload(
                Bucket=self._b(bucket), Key=key, ContentType=content_type or "application/octet-stream"
            )
        except _ERRORS as exc:
            raise translate(exc, bucket, key, None) from exc
        return str(response["UploadId"])

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        check_key(key)
        try:
            response = self.client.upload_part(
                Bucket=self._b(bucket), Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        except _ERRORS as exc:
            raise translate(exc, bucket, key, upload_id) from exc
        return str(response["ETag"])

    def parts(self, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
        check_key(key)
        out: list[UploadedPart] = []
        try:
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self._b(bucket), Key=key, UploadId=upload_id
            )
            for page in pages:
                out.extend(
                    UploadedPart(int(p["PartNumber"]), str(p["ETag"]), int(p.get("Size") or 0))
                    for p in page.get("Parts", [])
                )
        except _ERRORS as exc:
            raise translate(exc, bucket, key, upload_id) from exc
        return sorted(out, key=lambda p: p.number)

    def complete(self, bucket: str, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        check_key(key)
        listed = [{"PartNumber": p.number, "ETag": p.etag} for p in sorted(parts, key=lambda p: p.number)]
        try:
            # botocore raises for the error S3 may send inside a 200 response to this call.
            self.client.complete_multipart_upload(
                Bucket=self._b(bucket), Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        except _ERRORS as exc:
            raise translate(exc, bucket, key, upload_id) from exc

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        check_key(key)
        try:
            self.client.abort_multipart_upload(Bucket=self._b(bucket), Key=key, UploadId=upload_id)
        except _ERRORS as exc:
            error = translate(exc, bucket, key, upload_id)
            if not isinstance(error, MultipartUploadMissing):
                raise error from exc

    def pending(self, bucket: str, prefix: str = "") -> Iterator[PendingUpload]:
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self._b(bucket), Prefix=prefix)
            for page in pages:
                for up in page.get("Uploads", []):
                    yield PendingUpload(str(up["Key"]), str(up["UploadId"]), up["Initiated"].astimezone(UTC))
        except _ERRORS as exc:
            raise translate(exc, bucket, prefix, None) from exc
