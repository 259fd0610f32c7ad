"""An attacker at the edge and the origin: an edge without a signing secret refuses signed objects
(fails closed) on every way in, and a spoofed X-Forwarded-For does not satisfy an IP-bound token:
the client address comes from trusted proxies only, read from the right."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from origin.app import create_app as create_origin
from playback.signing import sign_token
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import PLAYLIST, SEGMENT, SEGMENT_BYTES, edge_settings, origin_settings, publish

pytestmark = pytest.mark.anyio
SECRET = "playback-secret"
CLIENT = "203.0.113.7"
ATTACKER = "198.51.100.9"
LB = "10.1.1.1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _edge(tmp_path: Path, access: str, **overrides: object) -> tuple[object, httpx.AsyncBaseTransport]:
    origin = create_origin(origin_settings(tmp_path, access=access), store=publish(tmp_path))
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin", **overrides), transport=httpx.ASGITransport(app=origin)
    )
    return edge, origin


def _token(ip: str | None = None) -> str:
    return sign_token(SECRET.encode(), "a1b2c3", int(time.time()) + 300, ip)


async def test_edge_without_secret_refuses_signed_objects(tmp_path: Path) -> None:
    edge, _ = _edge(tmp_path, "signed")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as client:
        for _ in range(3):  # the miss, then what would be memory hits
            for request in (client.get(f"/{SEGMENT}"), client.head(f"/{PLAYLIST}")):
                r = await request
                assert r.status_code == 403
                if r.request.method == "GET":
                    assert r.json()["error"] == "token_unverifiable"
                    assert SEGMENT_BYTES[:64] not in r.content
        # A token does not help either: nothing here can check it.
        assert (await client.get(f"/{SEGMENT}", params={"token": _token()})).status_code == 403
    await edge.state.upstream.aclose()  # type: ignore[attr-defined]


async def test_edge_without_secret_serves_public_objects(tmp_path: Path) -> None:
    edge, _ = _edge(tmp_path, "public")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as client:
        r = await client.get(f"/{SEGMENT}")
        assert (r.status_code, r.content) == (200, SEGMENT_BYTES)
    await edge.state.upstream.aclose()  # type: ignore[attr-defined]


def _raw_status(port: int, target: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_edge_without_secret_refuses_signed_memory_hits_over_sockets(tmp_path: Path) -> None:
    """The hit protocol (cdn_edge/protocol.py) and FastHits answer from memory before the app: a
    signed object in memory must not slip out that way."""
    edge, _ = _edge(tmp_path, "signed")
    with serving(edge) as server:
        for _ in range(20):
            assert _raw_status(server.port, f"/{PLAYLIST}") == 403
        assert PLAYLIST in edge.state.node.cache.memory.entries  # type: ignore[attr-defined]
        assert _raw_status(server.port, f"/{PLAYLIST}") == 403
        assert edge.state.hits.direct == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("peer", "forwarded", "status"),
    [
        (LB, [CLIENT], 200),  # the LB says who connected to it
        (LB, [f"{CLIENT}, 10.2.2.2"], 200),  # two trusted hops
        (LB, [f"{CLIENT}, {ATTACKER}"], 403),  # the attacker wrote the victim's address leftmost
        (LB, [CLIENT, ATTACKER], 403),  # ... or as a header line of its own
        (ATTACKER, [CLIENT], 403),  # straight to the edge, past the LB: the header is not believed
        (CLIENT, [], 200),  # the client itself, no proxy
    ],
)
async def test_spoofed_forwarded_for_does_not_satisfy_an_ip_bound_token(
    tmp_path: Path, peer: str, forwarded: list[str], status: int
) -> None:
    edge, origin = _edge(tmp_path, "signed", signing_secret=SECRET, trusted_proxies=["10.0.0.0/8"])
    headers = [("x-forwarded-for", value) for value in forwarded]
    params = {"token": _token(ip=CLIENT)}
    transport = httpx.ASGITransport(app=edge, client=(peer, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as client:
        r = await client.get(f"/{SEGMENT}", params=params, headers=headers)
        assert r.status_code == status
    await edge.state.upstream.aclose()  # type: ignore[attr-defined]
    # The origin verifying tokens itself reads the same header the same way.
    verifying = create_origin(
        origin_settings(tmp_path, access="signed", signing_secret=SECRET, verify_tokens=True,
                        trusted_proxies=["10.0.0.0/8"]),
        store=publish(tmp_path),
    )  # fmt: skip
    transport = httpx.ASGITransport(app=verifying, client=(peer, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
        assert (await client.get(f"/{SEGMENT}", params=params, headers=headers)).status_code == status
