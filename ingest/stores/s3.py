"""Unfinished uploads on S3: one multipart upload per TUS upload, a temp object for the short tail.

Design (and why not the alternatives):
- One S3 multipart upload, started at creation on the upload's final key. Parts are uploaded as soon as
  `part_size` bytes are in; `CompleteMultipartUpload` makes the finished object appear atomically, with
  no server-side copy (a server-side compose would need every source but the last to be >= 5 MiB too and
  copies all bytes once more at the end). The multipart calls are the object store's `multipart`
  capability (storage.objects.MultipartUploads): this module sees no SDK.
- A PATCH rarely ends on a part boundary. The bytes after the last full part are stored as a temp object
  `incoming/{id}/tail-{n}` where n is the number the part will get; nothing acknowledged lives only in
  this process. The next PATCH prepends it, and once part n exists the tail is stale and ignored.
- The offset is read from storage: the sizes ListParts reports plus the live tail, never a counter.
- Part size grows with the declared length (or Tus-Max-Size when deferred) so that 10,000 parts reach it.
Bytes are staged in a local scratch file (not memory) so a huge PATCH keeps RSS flat; a PATCH with
Upload-Checksum is staged whole and only turned into parts once verified.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

from ingest.hashing import RunningHashes
from ingest.protocol import part_size_for
from ingest.store import UploadInfo, sha256_of
from storage.errors import MultipartUploadMissing, ObjectMissing
from storage.objects import ObjectStore, UploadedPart

TAIL_PREFIX = "incoming"


def _tail_key(upload_id: str, number: int) -> str:
    return f"{TAIL_PREFIX}/{upload_id}/tail-{number:05d}"


class S3UploadWriter:
    def __init__(self, store: S3UploadStore, upload: UploadInfo, offset: int, *, verify: bool) -> None:
        self.store = store
        self.offset = offset
        # The running sha256 before this request, and a copy that follows it (dropped on discard).
        self.base_sha256 = store.hashes.resume(upload.id, offset)
        self.sha256 = self.base_sha256.copy() if self.base_sha256 is not None else None
        self.upload = upload
        self.key = upload.target_key
        self.mpu = str(upload.store_state["multipart_id"])
        self.part_size = int(upload.store_state["part_size"])
        self.verify = verify
        parts = store.multipart.parts(store.bucket, self.key, self.mpu)
        self.next_number = max((p.number for p in parts), default=0) + 1
        self.first_number = self.next_number
        self.scratch_path = store.scratch_dir / f"{upload.id}.{uuid.uuid4().hex[:8]}"
        self.scratch = open(self.scratch_path, "w+b")  # noqa: SIM115 - closed in commit/discard
        self.size = 0
        with contextlib.suppress(ObjectMissing):
            for chunk in store.objects.read_range(store.bucket, _tail_key(upload.id, self.next_number)):
                self.scratch.write(chunk)
                self.size += len(chunk)

    def write(self, data: bytes) -> None:
        self.scratch.write(data)
        self.size += len(data)
        if not self.verify:
            self._flush_parts()

    def digest(self, data: bytes) -> None:
        if self.sha256 is not None:
            self.sha256.update(data)

    def _flush_parts(self) -> None:
        if self.size < self.part_size:
            return
        self.scratch.seek(0)
        while self.size >= self.part_size:
            data = self.scratch.read(self.part_size)
            self.store.multipart.upload_part(self.store.bucket, self.key, self.mpu, self.next_number, data)
            self.next_number += 1
            self.size -= self.part_size
        rest = self.scratch.read()
        self.scratch.seek(0)
        self.scratch.truncate()
        self.scratch.write(rest)

    def commit(self) -> int:
        self._flush_parts()
        if self.size:
            self.scratch.seek(0)
            self.store.objects.put_stream(
                self.store.bucket,
                _tail_key(self.upload.id, self.next_number),
                self.scratch,
                self.size,
            )
        self._close()
        # Tails before the current one are now inside parts: stale, reclaim them.
        for number in range(self.first_number, self.next_number):
            self.store.objects.delete(self.store.bucket, _tail_key(self.upload.id, number))
        offset = self.store.offset(self.upload, self.store.bucket)
        self.store.hashes.keep(self.upload.id, offset, self.sha256)
        return offset

    def discard(self) -> None:
        self._close()
        self.store.hashes.keep(self.upload.id, self.offset, self.base_sha256)

    def _close(self) -> None:
        if not self.scratch.closed:
            self.scratch.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.scratch_path)


class S3UploadStore:
    def __init__(
        self,
        objects: ObjectStore,
        bucket: str,
        *,
        scratch_dir: Path,
        max_size: int,
        part_size: int,
        sweep_grace_seconds: float = 3600.0,
    ) -> None:
        multipart = objects.capabilities.multipart
        if multipart is None:
            raise TypeError("the S3 upload store needs an object store with multipart uploads (S3)")
        self.objects = objects
        self.bucket = bucket
        self.multipart = multipart
        self.scratch_dir = Path(scratch_dir)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        self.max_size = max_size
        self.part_size = part_size
        self.sweep_grace_seconds = sweep_grace_seconds
        self.hashes = RunningHashes()

    def create(self, upload_id: str, target_key: str, length: int | None) -> dict[str, Any]:
        return {
            "multipart_id": self.multipart.create(self.bucket, target_key),
            "part_size": part_size_for(length, self.max_size, self.part_size),
        }

    def _tail_size(self, upload_id: str, number: int) -> int:
        try:
            return self.objects.stat(self.bucket, _tail_key(upload_id, number)).size
        except ObjectMissing:
            return 0

    def offset(self, upload: UploadInfo, bucket: str) -> int:
        try:
            parts = self.multipart.parts(self.bucket, upload.target_key, upload.store_state["multipart_id"])
        except MultipartUploadMissing:
            try:
                return self.objects.stat(bucket, upload.target_key).size
            except ObjectMissing:
                return 0
        last = max((p.number for p in parts), default=0)
        return sum(p.size for p in parts) + self._tail_size(upload.id, last + 1)

    def writer(self, upload: UploadInfo, offset: int, *, verify: bool) -> S3UploadWriter:
        return S3UploadWriter(self, upload, offset, verify=verify)

    def finish(self, upload: UploadInfo, bucket: str) -> str:
        key, mpu = upload.target_key, upload.store_state["multipart_id"]
        try:
            parts = self.multipart.parts(self.bucket, key, mpu)
        except MultipartUploadMissing:
            parts = None  # completed by an earlier finish that died before the catalog knew
        if parts is not None:
            number = max((p.number for p in parts), default=0) + 1
            tail_key = _tail_key(upload.id, number)
            try:
                tail = self.objects.get_bytes(self.bucket, tail_key)
            except ObjectMissing:
                tail = None
            if tail:
                # The last part may be shorter than 5 MiB.
                etag = self.multipart.upload_part(self.bucket, key, mpu, number, tail)
                parts.append(UploadedPart(number, etag, len(tail)))
            if parts:
                self.multipart.complete(self.bucket, key, mpu, parts)
            else:
                # S3 refuses to complete a multipart upload without parts: an empty upload is a PUT.
                self.objects.put_bytes(bucket, key, b"")
                self.multipart.abort(self.bucket, key, mpu)
            self._delete_tails(upload.id)
        running = self.hashes.take(upload.id, upload.length or 0)
        if running is not None:
            return running
        return sha256_of(self.objects.read_range(bucket, key))

    def _delete_tails(self, upload_id: str) -> int:
        tails = list(self.objects.list(self.bucket, f"{TAIL_PREFIX}/{upload_id}/"))
        for info in tails:
            self.objects.delete(self.bucket, info.key)
        return len(tails)

    def discard(self, upload: UploadInfo) -> None:
        self.hashes.forget(upload.id)
        if "multipart_id" in upload.store_state:
            self.multipart.abort(self.bucket, upload.target_key, upload.store_state["multipart_id"])
        self._delete_tails(upload.id)
        for path in self.scratch_dir.glob(f"{upload.id}.*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def sweep(self, live_ids: set[str]) -> int:
        removed = 0
        cutoff = time.time() - self.sweep_grace_seconds
        for prefix in ("originals/", "partials/"):
            for pending in list(self.multipart.pending(self.bucket, prefix)):
                if pending.key.rsplit("/", 1)[-1] not in live_ids and pending.initiated.timestamp() <= cutoff:
                    self.multipart.abort(self.bucket, pending.key, pending.upload_id)
                    removed += 1
        for info in list(self.objects.list(self.bucket, f"{TAIL_PREFIX}/")):
            upload_id = info.key.split("/")[1]
            if upload_id not in live_ids and info.last_modified.timestamp() <= cutoff:
                self.objects.delete(self.bucket, info.key)
                removed += 1
        for path in self.scratch_dir.iterdir():
            if path.name.split(".", 1)[0] not in live_ids and path.stat().st_mtime <= cutoff:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed += 1
        return removed
