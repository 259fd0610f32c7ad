"""Running sha256 of uploads, kept between PATCHes by the process that receives them."""

from __future__ import annotations

import hashlib
import threading
from typing import Any


class RunningHashes:
    """sha256 of each upload's bytes as far as this process received them, so finishing a large upload
    does not read it all back. Valid only while the recorded offset equals what storage holds: bytes
    below an offset never change, so a match means the hash covers exactly the upload. Another process
    writing in between (several ingest processes) simply makes the entry stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, Any]] = {}

    def resume(self, upload_id: str, offset: int) -> Any:
        with self._lock:
            entry = self._entries.pop(upload_id, None)
        if offset == 0:
            return hashlib.sha256()
        if entry is not None and entry[0] == offset:
            return entry[1]
        return None

    def keep(self, upload_id: str, offset: int, sha256: Any) -> None:
        if sha256 is None:
            return
        with self._lock:
            self._entries[upload_id] = (offset, sha256)

    def take(self, upload_id: str, offset: int) -> str | None:
        with self._lock:
            entry = self._entries.pop(upload_id, None)
        return entry[1].hexdigest() if entry is not None and entry[0] == offset else None

    def forget(self, upload_id: str) -> None:
        with self._lock:
            self._entries.pop(upload_id, None)
