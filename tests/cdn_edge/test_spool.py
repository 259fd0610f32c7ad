"""The spools on their own: reads at any position and limit return what was appended, in memory or
in a file, and nothing is readable from a file before it is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdn_edge.spool import MAX_PENDING, FileSpool, MemorySpool
from storage.objects import CHUNK_SIZE

pytestmark = pytest.mark.anyio

CHUNKS = [b"", b"a" * 10, b"", bytes(range(256)) * 300, b"z", b"q" * (MAX_PENDING + 7)]
WHOLE = b"".join(CHUNKS)


async def _read_all(spool: MemorySpool | FileSpool, start: int, limit: int) -> bytes:
    got, position = b"", start
    while position < limit:
        chunk = await spool.read(position, limit)
        assert 0 < len(chunk) <= max(CHUNK_SIZE, max(map(len, CHUNKS)))
        got, position = got + chunk, position + len(chunk)
    return got


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_reads_return_what_was_appended(tmp_path: Path, kind: str) -> None:
    spool = MemorySpool() if kind == "memory" else await FileSpool.create(tmp_path, keep=False)
    woken = []
    spool.on_readable = lambda: woken.append(spool.available)
    try:
        for chunk in CHUNKS:
            await spool.append(chunk)
        await spool.flush()
        assert spool.available == len(WHOLE) and woken[-1] == len(WHOLE)
        for start, limit in [(0, len(WHOLE)), (5, 12), (10, 11), (11, 7000), (len(WHOLE) - 3, len(WHOLE))]:
            assert await _read_all(spool, start, limit) == WHOLE[start:limit]
    finally:
        await spool.settle()
        spool.close()
    assert list(tmp_path.iterdir()) == []  # an anonymous spool has no name
