"""Two attempts of one job or part at once: a store that holds one chosen write of the first attempt
until the test releases it (a worker paused mid-write), and a thread that reports what it raised."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.objects import ObjectInfo, ObjectStore

WAIT = 120.0


@dataclass
class StallingStore:
    """The store of the test, except that the first write of a key under `prefix` ending in
    `stall_on` (the first attempt's) waits until `release` is set."""

    inner: ObjectStore
    prefix: str
    stall_on: str
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def _gate(self, key: str) -> None:
        if key.startswith(self.prefix) and key.endswith(self.stall_on) and not self.stalled.is_set():
            self.stalled.set()
            assert self.release.wait(WAIT), "never released"

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> ObjectInfo:
        self._gate(key)
        return self.inner.put_file(bucket, key, path, content_type)

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        self._gate(key)
        return self.inner.put_bytes(bucket, key, data, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def in_thread(target: Any, *args: Any) -> tuple[threading.Thread, list[BaseException]]:
    """Run `target(*args)` in a thread; the list receives whatever it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors
