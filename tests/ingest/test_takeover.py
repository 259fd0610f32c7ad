"""A client that reconnects while its old connection still holds the upload gets the upload, never 423.

Also: bytes of an interrupted PATCH are kept (TUS servers should accept as much as possible)."""

from __future__ import annotations

import socket
import time

import httpx

from tests.ingest.conftest import TOKEN
from tests.ingest.harness import Tus, wait_body_received


def _start_patch(url: str, path: str, offset: int, total: int, first: bytes) -> socket.socket:
    """Open a PATCH announcing `total` body bytes, send only `first`, and leave the socket hanging."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    sock = socket.create_connection((host, port))
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Authorization: Bearer {TOKEN}\r\nUpload-Offset: {offset}\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {total}\r\n\r\n"
    )
    sock.sendall(head.encode() + first)
    return sock


def _wait_offset(tus: Tus, path: str, expected: int) -> int:
    deadline = time.monotonic() + 60
    while True:
        offset = int(tus.head(path).headers["upload-offset"])
        if offset == expected or time.monotonic() > deadline:
            return offset
        time.sleep(0.05)


def test_stalled_connection_hands_over_to_the_new_request(tus: Tus, server, settings) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * 1024  # 256 KiB
    path = tus.new(len(data))
    stalled = _start_patch(server.url, path, 0, len(data), data[:100_000])
    try:
        wait_body_received(server.url, stalled)  # the server has what was sent
        started = time.monotonic()
        head = tus.head(path)
        assert head.status_code == 200
        # Handed over (milliseconds), not waited out (the holder keeps its lease alive until the
        # takeover deadline): half that deadline leaves a loaded machine all the room it needs.
        assert time.monotonic() - started < settings.lock_takeover_seconds / 2
        offset = int(head.headers["upload-offset"])
        assert offset == 100_000
        r = tus.patch(path, offset, data[offset:])
        assert r.status_code == 204, r.text
        assert r.headers["upload-offset"] == str(len(data))
    finally:
        stalled.close()


def test_interrupted_patch_keeps_the_bytes_received(tus: Tus, server) -> None:
    data = b"q" * 300_000
    path = tus.new(len(data))
    sock = _start_patch(server.url, path, 0, len(data), data[:120_000])
    wait_body_received(server.url, sock)
    sock.close()  # the network drops
    offset = _wait_offset(tus, path, 120_000)
    assert offset == 120_000
    assert tus.patch(path, offset, data[offset:]).status_code == 204
