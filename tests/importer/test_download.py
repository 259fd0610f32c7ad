"""The import download against a real loopback server (ranges, drops) and, where the network would be
needed (public hosts, redirects to private ones), httpx's MockTransport behind a fixed resolver."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from importer.download import Download, DownloadLimits
from importer.errors import SourceFailed
from tests.importer.fileserver import FileServer

LIMITS = DownloadLimits(
    max_bytes=10 * 1024**2, total_seconds=60, connect_timeout=5, read_timeout=10, max_redirects=3, max_resumes=3
)
BODY = os.urandom(3 * 1024**2 + 17)
PUBLIC = "93.184.216.34"


def fetch(url: str, dest: Path, limits: DownloadLimits = LIMITS, **kw: object) -> tuple[bytes, object]:
    got = Download(url, dest, limits, **kw).run()  # type: ignore[arg-type]
    return dest.read_bytes(), got


def test_a_dropped_connection_resumes_with_range_and_the_bytes_are_exact(tmp_path: Path) -> None:
    with FileServer(BODY, cut_after=[1_000_000, 700_000]) as server:
        data, got = fetch(server.url(), tmp_path / "a.part", allow_private=True)
    assert data == BODY
    assert (got.size, got.resumes, got.ranged) == (len(BODY), 2, True)  # type: ignore[attr-defined]
    # The resumes asked for the bytes after those kept, guarded by the ETag (a changed file restarts).
    ranges = [r.get("range") for r in server.requests]
    assert ranges[0] is None and len(ranges) == 3
    first, second = (int(str(r).removeprefix("bytes=").removesuffix("-")) for r in ranges[1:])
    assert 900_000 < first <= 1_000_000 < second <= first + 700_000  # what arrived was kept, not fetched again
    assert [r.get("if-range") for r in server.requests] == [None, server.etag, server.etag]


def test_without_range_support_a_drop_restarts_from_zero(tmp_path: Path) -> None:
    with FileServer(BODY, ranges=False, cut_after=[1_000_000]) as server:
        data, got = fetch(server.url(), tmp_path / "a.part", allow_private=True)
    assert data == BODY and got.resumes == 1 and not got.ranged  # type: ignore[attr-defined]
    assert [r.get("range") for r in server.requests] == [None, None]


def test_a_source_that_keeps_dropping_fails_with_its_reason(tmp_path: Path) -> None:
    with FileServer(BODY, cut_after=[1000] * 10) as server:
        with pytest.raises(SourceFailed, match=r"kept failing \(3 resumes\); last: .*(closed|complete message body)"):
            fetch(server.url(), tmp_path / "a.part", allow_private=True)


def test_loopback_is_refused_without_the_operator_setting(tmp_path: Path) -> None:
    with FileServer(BODY) as server:
        for url in (server.url(), server.url().replace("127.0.0.1", "localhost")):
            with pytest.raises(SourceFailed, match=r"the source URL is refused: .* loopback"):
                fetch(url, tmp_path / "a.part", allow_private=False)
        assert server.requests == []  # refused before any connection


def test_over_size_is_refused_with_its_reason(tmp_path: Path) -> None:
    small = DownloadLimits(**{**LIMITS.__dict__, "max_bytes": 1024**2})
    with FileServer(BODY) as server:
        with pytest.raises(SourceFailed, match=r"the source is 3\.0 MiB, over the 1\.0 MiB import limit"):
            fetch(server.url(), tmp_path / "a.part", small, allow_private=True)

    def chunked(request: httpx.Request) -> httpx.Response:  # no Content-Length: counted while reading
        return httpx.Response(200, content=iter([BODY[i : i + 65536] for i in range(0, len(BODY), 65536)]))

    with pytest.raises(SourceFailed, match=r"larger than the 1\.0 MiB import limit"):
        fetch(
            "http://media.example/v.mp4",
            tmp_path / "b.part",
            small,
            allow_private=False,
            resolver=lambda host, port: [PUBLIC],
            transport=httpx.MockTransport(chunked),
        )
    assert (tmp_path / "b.part").stat().st_size <= 1024**2


@pytest.mark.parametrize(
    ("location", "resolved", "why"),
    [
        ("http://10.1.2.3/v.mp4", {}, "private"),
        ("http://169.254.169.254/latest/meta-data/", {}, "link-local"),
        ("http://internal.example/v.mp4", {"internal.example": "192.168.1.5"}, "private"),
        ("http://[::1]:8080/v.mp4", {}, "loopback"),
        ("file:///etc/passwd", {}, "only http and https"),
    ],
)
def test_a_redirect_to_a_private_address_is_refused(
    tmp_path: Path, location: str, resolved: dict[str, str], why: str
) -> None:
    seen: list[str] = []

    def public_origin(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": location})

    def resolver(host: str, port: int) -> list[str]:
        return [resolved.get(host, PUBLIC)]

    with pytest.raises(SourceFailed, match=rf"a redirect to .* is refused: .*{why}"):
        fetch(
            "http://media.example/v.mp4",
            tmp_path / "a.part",
            allow_private=False,
            resolver=resolver,
            transport=httpx.MockTransport(public_origin),
        )
    assert seen == [f"http://{PUBLIC}/v.mp4"]  # connected to the checked address only, once


def test_redirects_are_followed_within_the_limit(tmp_path: Path) -> None:
    with FileServer(BODY) as server:
        server.redirect_to = server.url()
        data, _ = fetch(server.url("/redirect"), tmp_path / "a.part", allow_private=True)
        assert data == BODY

    def loop(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "/again"})

    with pytest.raises(SourceFailed, match="redirected more than 3 times"):
        fetch(
            "http://media.example/v.mp4",
            tmp_path / "b.part",
            allow_private=False,
            resolver=lambda host, port: [PUBLIC],
            transport=httpx.MockTransport(loop),
        )


def test_http_errors_and_the_time_limit(tmp_path: Path) -> None:
    def missing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    public = {"allow_private": False, "resolver": lambda host, port: [PUBLIC]}
    with pytest.raises(SourceFailed, match="the source answered HTTP 404"):
        fetch("http://media.example/v.mp4", tmp_path / "a.part", transport=httpx.MockTransport(missing), **public)

    now = [0.0]

    def slow(request: httpx.Request) -> httpx.Response:
        def body():  # type: ignore[no-untyped-def]
            for _ in range(10):
                now[0] += 30  # each chunk "takes" 30 s on the injected clock
                yield b"x" * 1000

        return httpx.Response(200, content=body())

    with pytest.raises(SourceFailed, match="took longer than 60 s"):
        Download(
            "http://media.example/v.mp4",
            tmp_path / "b.part",
            LIMITS,
            transport=httpx.MockTransport(slow),
            clock=lambda: now[0],
            **public,  # type: ignore[arg-type]
        ).run()
