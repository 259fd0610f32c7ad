"""The two-tier object cache: a memory tier for small hot objects over a disk tier, each with its own
byte budget and eviction policy. Budgets are hard: an insert first evicts until it fits, and an
object larger than a tier's budget is simply not stored there.

Both tiers can hold a key at once (memory is a copy of disk): losing the memory copy costs a disk read,
losing the disk copy leaves a valid memory copy. Index mutations take a lock because disk writes run
in worker threads while lookups run on the event loop. The disk tier's lock is held across file
operations (eviction unlinks, the rename of a new body), so the event loop never waits for it: `find`
asks the disk tier from a worker thread when a thread holds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio.to_thread

from cdn_edge.eviction import EvictionPolicy
from cdn_edge.freshness import Freshness


@dataclass(frozen=True)
class Entry:
    """A stored response, without its body."""

    key: str
    status: int  # 200, or a cached negative answer (404, 503)
    headers: tuple[tuple[str, str], ...]  # end-to-end headers as received (lower-case names)
    size: int
    stored_at: float  # wall-clock time the response was generated upstream (receipt time minus its Age)
    freshness: Freshness

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)


@dataclass(frozen=True)
class Hit:
    entry: Entry
    body: bytes | None  # from memory
    path: Path | None  # from disk
    tier: str


class TierBusy(Exception):
    """A tier's lock is held by a thread (a disk write or eviction): ask again from a thread."""


EvictHook = Callable[[str], None]
# Asked under the tier lock just before an insert: False when a purge overtook the write.
Wanted = Callable[[], bool]


def _always() -> bool:
    return True


class _Tier:
    name = "tier"

    def __init__(self, budget: int, policy: EvictionPolicy, on_evict: EvictHook | None = None) -> None:
        self.budget = budget
        self.policy = policy
        self.used = 0
        self.entries: dict[str, Entry] = {}
        self.lock = threading.Lock()
        self.on_evict = on_evict or (lambda tier: None)

    def __len__(self) -> int:
        return len(self.entries)

    def _drop(self, key: str) -> None:
        """Release the bytes of `key` (index already updated). Called with the lock held."""

    def _forget(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.used -= entry.size
            self._drop(key)

    def _make_room(self, key: str, size: int) -> bool:
        """Evict until `size` more bytes fit; False when the object can never fit. Lock held."""
        if size > self.budget:
            return False
        if key in self.entries:
            self.policy.remove(key)
            self._forget(key)
        while self.used + size > self.budget:
            victim = self.policy.victim()
            self._forget(victim)
            self.on_evict(self.name)
        return True

    def remove(self, key: str) -> bool:
        with self.lock:
            if key not in self.entries:
                return False
            self.policy.remove(key)
            self._forget(key)
            return True

    def keys_with_prefix(self, prefix: str) -> list[str]:
        with self.lock:
            return [k for k in self.entries if k.startswith(prefix)]

    def refresh(self, entry: Entry) -> None:
        with self.lock:
            if entry.key in self.entries:
                self.entries[entry.key] = entry
                self._after_refresh(entry)

    def _after_refresh(self, entry: Entry) -> None:
        pass


class MemoryTier(_Tier):
    name = "memory"

    def __init__(self, budget: int, policy: EvictionPolicy, on_evict: EvictHook | None = None) -> None:
        super().__init__(budget, policy, on_evict)
        self.bodies: dict[str, bytes] = {}

    def _drop(self, key: str) -> None:
        self.bodies.pop(key, None)

    def get(self, key: str) -> tuple[Entry, bytes] | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            self.policy.access(key)
            return entry, self.bodies[key]

    def put(self, entry: Entry, body: bytes, wanted: Wanted = _always) -> bool:
        with self.lock:
            if not wanted() or not self._make_room(entry.key, entry.size):
                return False
            self.entries[entry.key] = entry
            self.bodies[entry.key] = body
            self.used += entry.size
            self.policy.insert(entry.key, entry.size)
            return True


def _entry_to_json(entry: Entry) -> str:
    return json.dumps(asdict(entry))


def _entry_from_json(text: str) -> Entry:
    raw = json.loads(text)
    return Entry(
        key=raw["key"],
        status=raw["status"],
        headers=tuple((k, v) for k, v in raw["headers"]),
        size=raw["size"],
        stored_at=raw["stored_at"],
        freshness=Freshness(**raw["freshness"]),
    )


class DiskTier(_Tier):
    """Bodies in files named by the key's hash, metadata in a JSON file beside each; reloaded on start.

    No fsync: a cache that loses its last writes in a crash only refetches them. Writes are still
    rename-atomic, so a reader never sees a partial body under a valid name.
    """

    name = "disk"

    def __init__(self, root: Path, budget: int, policy: EvictionPolicy, on_evict: EvictHook | None = None) -> None:
        super().__init__(budget, policy, on_evict)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        # Bodies being filled (cdn_edge/spool.py): on this filesystem, so a complete one is renamed in.
        self.fill_dir = self.root / "fill"
        self._load()

    def _paths(self, key: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(key.encode()).hexdigest()
        base = self.root / digest[:2] / digest
        return base.with_suffix(".body"), base.with_suffix(".meta")

    def _load(self) -> None:
        metas = sorted(self.root.glob("*/*.meta"), key=lambda p: p.stat().st_mtime)
        for meta in metas:
            body = meta.with_suffix(".body")
            try:
                entry = _entry_from_json(meta.read_text())
                ok = body.stat().st_size == entry.size
            except (OSError, ValueError, KeyError, TypeError):
                ok = False
            if not ok or not self._make_room(entry.key, entry.size):
                for path in (meta, body):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                continue
            self.entries[entry.key] = entry
            self.used += entry.size
            self.policy.insert(entry.key, entry.size)
        for tmp in self.root.glob("*/.tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _drop(self, key: str) -> None:
        for path in self._paths(key):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def get(self, key: str, *, wait: bool = True) -> tuple[Entry, Path] | None:
        """The entry of `key` and its body file. With wait=False (on the event loop) raises TierBusy
        rather than wait for a thread holding the lock."""
        if not self.lock.acquire(blocking=wait):
            raise TierBusy(self.name)
        try:
            entry = self.entries.get(key)
            if entry is None:
                return None
            self.policy.access(key)
            return entry, self._paths(key)[0]
        finally:
            self.lock.release()

    def put(self, entry: Entry, body: Sequence[bytes], wanted: Wanted = _always) -> bool:
        """Blocking: call from a worker thread. `body` is the bytes or the list of chunks as received."""
        if entry.size > self.budget:
            return False
        body_path = self._paths(entry.key)[0]
        body_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_body = Path(self._write_tmp(body_path.parent, body))
        if self.adopt(entry, tmp_body, wanted):
            return True
        os.unlink(tmp_body)
        return False

    def adopt(self, entry: Entry, body_file: Path, wanted: Wanted = _always) -> bool:
        """Blocking: take `body_file` (a complete body on this tier's filesystem) as the body of `entry`,
        renamed into place. False, the file left where it is, when unwanted or it cannot fit."""
        if entry.size > self.budget:
            return False
        body_path, meta_path = self._paths(entry.key)
        body_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_meta = self._write_tmp(body_path.parent, _entry_to_json(entry).encode())
        with self.lock:
            if not wanted() or not self._make_room(entry.key, entry.size):
                os.unlink(tmp_meta)
                return False
            os.replace(body_file, body_path)
            os.replace(tmp_meta, meta_path)
            self.entries[entry.key] = entry
            self.used += entry.size
            self.policy.insert(entry.key, entry.size)
            return True

    def _after_refresh(self, entry: Entry) -> None:
        meta_path = self._paths(entry.key)[1]
        tmp = self._write_tmp(meta_path.parent, _entry_to_json(entry).encode())
        os.replace(tmp, meta_path)

    @staticmethod
    def _write_tmp(directory: Path, data: bytes | Sequence[bytes]) -> str:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, bytes):
                out.write(data)
            else:
                out.writelines(data)  # chunk by chunk: no second copy of a large body
        return tmp


class TieredCache:
    def __init__(self, memory: MemoryTier, disk: DiskTier | None, max_memory_object: int) -> None:
        self.memory = memory
        self.disk = disk
        self.max_memory_object = max_memory_object

    @property
    def tiers(self) -> list[_Tier]:
        return [self.memory, *([self.disk] if self.disk is not None else [])]

    async def find(self, key: str) -> Hit | None:
        """`lookup` for the event loop: when a thread holds the disk tier's lock, the disk tier is asked
        from a worker thread. Otherwise no await: a herd of requests finds the same state, and the
        first one's fetch collapses the rest."""
        found = self.memory.get(key)
        if found is not None:
            return Hit(found[0], found[1], None, "memory")
        if self.disk is None:
            return None
        try:
            on_disk = self.disk.get(key, wait=False)
        except TierBusy:
            on_disk = await anyio.to_thread.run_sync(self.disk.get, key)
        return Hit(on_disk[0], None, on_disk[1], "disk") if on_disk is not None else None

    def lookup(self, key: str) -> Hit | None:
        """Blocking (may wait for the disk tier's lock)."""
        found = self.memory.get(key)
        if found is not None:
            return Hit(found[0], found[1], None, "memory")
        if self.disk is not None:
            on_disk = self.disk.get(key)
            if on_disk is not None:
                return Hit(on_disk[0], None, on_disk[1], "disk")
        return None

    def store(self, entry: Entry, chunks: list[bytes], wanted: Wanted = _always) -> bool:
        """Blocking (disk write). True when some tier kept the object. A purge sets what `wanted` reads
        before it removes anything, so a write racing a purge either loses or is removed by it."""
        kept = False
        if entry.size <= self.max_memory_object:
            kept = self.memory.put(entry, b"".join(chunks), wanted)
        if self.disk is not None and entry.status == 200:
            kept = self.disk.put(entry, chunks, wanted) or kept
        return kept

    def store_file(self, entry: Entry, body_file: Path, wanted: Wanted = _always) -> bool:
        """Blocking. A complete body spooled to `body_file` beside the disk tier: the memory tier keeps
        a copy when small enough, the disk tier takes the file itself. True when it did (the file is
        gone from `body_file`); otherwise removing it is the caller's business."""
        if entry.size <= self.max_memory_object:
            self.memory.put(entry, body_file.read_bytes(), wanted)
        if self.disk is not None and entry.status == 200:
            return self.disk.adopt(entry, body_file, wanted)
        return False

    def promote(self, entry: Entry, body: bytes) -> None:
        """Copy a disk hit into memory once its bytes have been read anyway."""
        if entry.size <= self.max_memory_object:
            self.memory.put(entry, body)

    def refresh(self, entry: Entry) -> None:
        """Blocking. New metadata (after a 304) for a stored body."""
        for tier in self.tiers:
            tier.refresh(entry)

    def purge(self, key: str) -> bool:
        removed = [tier.remove(key) for tier in self.tiers]
        return any(removed)

    def purge_prefix(self, prefix: str) -> int:
        keys = {k for tier in self.tiers for k in tier.keys_with_prefix(prefix)}
        for key in keys:
            self.purge(key)
        return len(keys)
