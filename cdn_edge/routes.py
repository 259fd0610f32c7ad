"""GET/HEAD through the cache: lookup, collapse misses into one fetch, serve hits, stale and ranges."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cdn_edge.cache import Entry, Hit, TieredCache
from cdn_edge.clips import request_cache_key, requested_clip
from cdn_edge.collapse import Collapser, Fetch, Head
from cdn_edge.errors import UpstreamError
from cdn_edge.fill import Filler
from cdn_edge.freshness import Usability, usability
from cdn_edge.metrics import EdgeMetrics
from cdn_edge.rewrite import sign_playlist
from httpsemantics.conditional import evaluate_preconditions, parse_http_date, range_applies
from httpsemantics.errors import MalformedRange, MultipleRanges, NotFound
from httpsemantics.ranges import parse_range
from httpsemantics.variants import object_key
from playback.access import ACCESS_HEADER, SIGNED, check_access
from playback.errors import TokenUnverifiable
from playback.signing import TOKEN_PARAM
from storage.errors import InvalidKey
from storage.objects import CHUNK_SIZE, check_key
from traffic.clients import TrustedProxies
from traffic.paths import check_path, request_path


@dataclass
class Node:
    name: str
    role: str
    cache: TieredCache
    collapser: Collapser
    filler: Filler
    metrics: EdgeMetrics
    clock: Callable[[], float]
    secrets: list[bytes]
    proxies: TrustedProxies
    purge_token: str
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def start_fill(self, fetch: Fetch, stale: Entry | None) -> None:
        task = asyncio.get_running_loop().create_task(self.filler.run(fetch, stale))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


@dataclass
class Answer:
    """What to send, whichever way it was obtained."""

    status: int
    headers: tuple[tuple[str, str], ...]
    size: int | None
    age: float
    cache_status: str  # this node's Cache-Status member
    label: str  # metrics label: hit, stale, miss, collapsed
    memory: bytes | None = None
    path: Path | None = None
    fetch: Fetch | None = None
    upstream_cache_status: str | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def _from_hit(node: Node, hit: Hit, detail: str, label: str, now: float) -> Answer:
    status = f"{node.name}; hit" + (f"; detail={detail}" if detail else "")
    return Answer(
        hit.entry.status, hit.entry.headers, hit.entry.size, hit.entry.age(now), status, label,
        memory=hit.body, path=hit.path,
    )  # fmt: skip


def client_ip(request: Request, proxies: TrustedProxies) -> str | None:
    peer = request.client.host if request.client else None
    return proxies.client_address(peer, request.headers.getlist("x-forwarded-for"))


async def _lookup(node: Node, key: str) -> Answer:
    now = node.clock()
    hit = await node.cache.find(key)
    use = usability(hit.entry.freshness, hit.entry.age(now)) if hit else Usability.EXPIRED
    if hit is not None and use is Usability.FRESH:
        return _from_hit(node, hit, "", "hit", now)
    if hit is not None and use is Usability.STALE_REVALIDATE:
        if node.collapser.get(key) is None:
            fetch, _ = node.collapser.begin(key)
            node.start_fill(fetch, hit.entry)
        return _from_hit(node, hit, "stale-while-revalidate", "stale", now)

    fetch, leader = node.collapser.begin(key)
    if leader:
        node.start_fill(fetch, hit.entry if hit else None)
    elif fetch.done and fetch.error is None and fetch.head.done():
        # Complete, only not yet handed to the cache (the disk write is in progress): a hit in all but name.
        head = fetch.head.result()
        member = f"{node.name}; hit"
        return Answer(head.status, head.headers, head.size, 0.0, member, "hit", fetch=fetch)
    else:
        node.metrics.collapsed.labels(node.name).inc()
    can_serve_stale = hit is not None and use is not Usability.EXPIRED
    try:
        head = await fetch.wait_head()
    except UpstreamError:
        if can_serve_stale and hit is not None:
            return _from_hit(node, hit, "stale-if-error", "stale", node.clock())
        raise
    if head.status >= 500 and can_serve_stale and hit is not None:
        return _from_hit(node, hit, "stale-if-error", "stale", node.clock())
    reason = "stale" if hit is not None else "miss"
    member = f"{node.name}; fwd={reason}; fwd-status={304 if head.revalidated else head.status}"
    if head.revalidated is not None and hit is not None:
        entry = head.revalidated
        member += "; stored" if leader else "; collapsed"
        return Answer(
            200, entry.headers, entry.size, entry.age(node.clock()), member,
            "miss" if leader else "collapsed",
            memory=hit.body, path=hit.path, upstream_cache_status=head.upstream_cache_status,
        )  # fmt: skip
    member += "; collapsed" if not leader else ("; stored" if _storable(head) else "")
    return Answer(
        head.status, head.headers, head.size, 0.0, member, "miss" if leader else "collapsed",
        fetch=fetch, upstream_cache_status=head.upstream_cache_status,
    )  # fmt: skip


def _storable(head: Head) -> bool:
    cache_control = (head.header("cache-control") or "").lower()
    return head.status in (200, 404) and "no-store" not in cache_control and "private" not in cache_control


async def serve_object(request: Request) -> Response:
    node: Node = request.app.state.node
    started = time.perf_counter()
    key = check_path(request_path(request.scope))  # BadPath: 400/414, never sent upstream
    try:
        check_key(key)
    except InvalidKey:
        raise NotFound(key) from None
    clip = requested_clip(key, request.query_params)  # ClipInvalid: 400, never sent upstream
    # A clip's range and an image's parameters are in the key (and sent up); any other query is not.
    key = request_cache_key(key, request.query_params.multi_items(), clip)
    answer = await _lookup(node, key)
    try:
        response = await _respond(node, request, key, answer)
    except FileNotFoundError:
        # Evicted between lookup and read: forget it and go around once more (now a miss).
        await run_in_threadpool(node.cache.purge, key)
        answer = await _lookup(node, key)
        response = await _respond(node, request, key, answer)
    node.metrics.answered(answer.label, response.status_code)
    node.metrics.ttfb.labels(node.name, answer.label).observe(time.perf_counter() - started)
    return response


async def _full_body(answer: Answer) -> bytes:
    if answer.memory is not None:
        return answer.memory
    if answer.path is not None:
        return await run_in_threadpool(answer.path.read_bytes)
    if answer.fetch is None:
        raise RuntimeError("an answer without a body source")
    return await answer.fetch.wait_done()


async def _respond(node: Node, request: Request, key: str, answer: Answer) -> Response:
    headers = dict(answer.headers)
    chain = ", ".join(s for s in (answer.upstream_cache_status, answer.cache_status) if s)
    headers["cache-status"] = chain
    headers["age"] = str(int(answer.age))
    token = request.query_params.get(TOKEN_PARAM)
    body: bytes | None = None
    if answer.status == 200 and node.role == "edge":
        access = answer.header(ACCESS_HEADER)
        if access == SIGNED and not node.secrets:
            # Fail closed: serving it would hand out what the origin says needs a token.
            raise TokenUnverifiable("this edge has no signing secret to verify playback tokens")
        grant = check_access(
            access,
            node.secrets,
            token,
            object_key(key),
            now=node.clock(),
            client_ip=client_ip(request, node.proxies),
            clip=requested_clip(object_key(key), request.query_params),
            manifest=_is_playlist(answer.header("content-type")),
        )
        if grant is not None and token is not None and _is_playlist(answer.header("content-type")):
            signed = sign_playlist(answer.header("content-type"), await _full_body(answer), token)
            if signed is not None:
                body = signed
                # Another representation: its own validator, and only the token holder may reuse it.
                if etag := headers.get("etag"):
                    opaque = etag.removeprefix("W/").strip('"')
                    headers["etag"] = f'"{opaque}-{hashlib.sha1(token.encode()).hexdigest()[:8]}"'
                headers["cache-control"] = headers.get("cache-control", "").replace("public", "private")
    if answer.status != 200:
        payload = b"" if request.method == "HEAD" else await _full_body(answer)
        node.metrics.bytes_served.labels(node.name, answer.label).inc(len(payload))
        return Response(payload, status_code=answer.status, headers=headers)

    size = len(body) if body is not None else answer.size
    if size is None:  # chunked upstream: ranges need the total
        body = await _full_body(answer)
        size = len(body)
    etag = headers.get("etag")
    modified = parse_http_date(headers.get("last-modified"))
    decided = evaluate_preconditions(request.headers, etag, modified, request.method)
    if decided == 304:
        headers.pop("content-type", None)
        return Response(status_code=304, headers=headers)
    if decided == 412:
        return Response(status_code=412, headers={"cache-control": "no-store"})
    status, start, end = 200, 0, size - 1
    if range_applies(request.headers, etag, modified):
        try:
            wanted = parse_range(request.headers.get("range"), size)
        except (MalformedRange, MultipleRanges):
            wanted = None
        if wanted is not None:
            status, start, end = 206, wanted.start, wanted.end
            headers["content-range"] = wanted.content_range(size)
    length = max(0, end - start + 1)
    headers["content-length"] = str(length)
    headers["accept-ranges"] = "bytes"
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers)
    node.metrics.bytes_served.labels(node.name, answer.label).inc(length)
    if body is not None:
        return Response(body[start : end + 1], status_code=status, headers=headers)
    if answer.memory is not None:
        whole = start == 0 and length == len(answer.memory)  # no 2 MB copy for the common case
        return Response(answer.memory if whole else answer.memory[start : end + 1], status_code=status, headers=headers)
    if answer.path is not None:
        promote = status == 200 and size <= node.cache.max_memory_object
        # Opened here, before the head goes out: a file evicted since the lookup is a miss, not an abort.
        file = await run_in_threadpool(open, answer.path, "rb")
        chunks = _read_file(file, start, end, on_full=_promoter(node, key) if promote else None)
        return StreamingResponse(iterate_in_threadpool(chunks), status_code=status, headers=headers)
    if answer.fetch is None:
        raise RuntimeError("an answer without a body source")
    # If the upstream breaks off mid-body the head is already out: the generator raises and the server
    # aborts the connection, the only honest signal left.
    return StreamingResponse(answer.fetch.body(start, end), status_code=status, headers=headers)


def _is_playlist(content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind in ("application/vnd.apple.mpegurl", "application/x-mpegurl", "application/dash+xml")


def _promoter(node: Node, key: str) -> Callable[[bytes], None]:
    def promote(body: bytes) -> None:
        hit = node.cache.disk.get(key) if node.cache.disk is not None else None
        if hit is not None and hit[0].size == len(body):
            node.cache.promote(hit[0], body)

    return promote


def _read_file(
    file: BinaryIO, start: int, end: int | None, on_full: Callable[[bytes], None] | None = None
) -> Iterator[bytes]:
    """Blocking: bytes [start, end] of a cached body file (evicted meanwhile, the open fd still reads it)."""
    kept: list[bytes] = []
    with file as f:
        f.seek(start)
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            chunk = f.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            if on_full is not None:
                kept.append(chunk)
            yield chunk
    if on_full is not None:
        on_full(b"".join(kept))
