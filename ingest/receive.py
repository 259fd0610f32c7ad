"""Stream a request body into an UploadWriter without ever holding it in memory.

Bytes are batched to ~1 MiB, written from one worker thread and hashed on another while the next batch is
received, so memory per active upload stays at a few batches. A hand-over request (ingest/locks.py)
stops the loop at the next chunk boundary even when the client has stalled mid-body.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from ingest.errors import TusError
from ingest.protocol import Checksum
from ingest.store import UploadWriter

BATCH_BYTES = 1024 * 1024
WRITE_DEPTH = 3


@dataclass(frozen=True)
class Received:
    offset: int | None  # the upload's offset after this request, read back from storage; None: unchanged
    received: int  # bytes of this request that were stored


async def body_is_empty(request: Request) -> bool:
    """Whether the request carries no body byte; reads at most up to its first non-empty chunk."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        return int(declared) == 0
    stream = request.stream()
    try:
        async for chunk in stream:
            if chunk:
                return False
    except ClientDisconnect:
        pass
    finally:
        await stream.aclose()
    return True


async def receive_body(
    request: Request,
    writer: UploadWriter,
    *,
    limit: int,
    limit_error: str = "exceeds-length",
    checksum: Checksum | None,
    stop: asyncio.Event,
) -> Received:
    """Write the body to `writer` and commit. Raise TusError 460 (checksum mismatch) or `limit_error` (a
    body longer than `limit`), both after discarding the writer: a body that runs past `limit` is refused
    whole, so the caller must give a writer that stages its bytes (`verify`) whenever the body's length
    is not known in advance. On any other exception the caller must call `writer.discard()`."""
    hasher = checksum.hasher() if checksum else None
    received = 0
    over_limit = complete_body = False

    def digest(data: bytes) -> None:
        writer.digest(data)
        if hasher is not None:
            hasher.update(data)

    stream = request.stream().__aiter__()
    loop = asyncio.get_running_loop()
    # One thread writes and another hashes each batch (hashlib and file writes release the GIL, so the
    # two run at once on two cores); one thread each keeps both in order. Up to WRITE_DEPTH batches
    # wait for them, so receiving never stalls on one slow write or on a thread wake-up.
    writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
    hashes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-hasher")
    in_flight: deque[asyncio.Future[Any]] = deque()

    def submit(data: bytes) -> None:
        in_flight.append(
            asyncio.gather(loop.run_in_executor(writes, writer.write, data), loop.run_in_executor(hashes, digest, data))
        )

    batch: list[bytes] = []
    batch_size = 0
    # A hand-over request cancels this task, but only while it waits for the network: never in the
    # middle of a write. Cheaper than racing a task per chunk, which costs throughput.
    task = asyncio.current_task()
    waiting = False

    async def watch() -> None:
        await stop.wait()
        if waiting and task is not None:
            task.cancel()

    watcher = asyncio.create_task(watch())
    stopped = False  # reading ended normally (not by an error): the last batch is kept
    try:
        while not stop.is_set():
            waiting = True
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                complete_body = True
                break
            except asyncio.CancelledError:
                if stop.is_set() and task is not None and task.uncancel() == 0:
                    break  # our own cancellation: hand over
                raise
            finally:
                waiting = False
            if received + batch_size + len(chunk) > limit:
                over_limit = True  # refused whole below: what was written is discarded
                break
            batch.append(chunk)
            batch_size += len(chunk)
            if batch_size >= BATCH_BYTES:
                while len(in_flight) >= WRITE_DEPTH:
                    await in_flight.popleft()
                submit(b"".join(batch))
                received += batch_size
                batch, batch_size = [], 0
        stopped = True
    except ClientDisconnect:
        stopped = True  # keep what arrived: TUS clients resume from the offset storage reports
    finally:
        watcher.cancel()
        if stopped and batch and not over_limit:
            submit(b"".join(batch))
            received += batch_size
        writes.shutdown(wait=False)
        hashes.shutdown(wait=False)
        # Every batch settles before the writer is committed or discarded; the first failure is raised.
        outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome  # the caller discards the writer
    if over_limit:
        await run_in_threadpool(writer.discard)
        raise TusError(limit_error)
    if checksum is not None and hasher is not None:
        # A chunk can only be verified whole: anything short of the complete body is dropped.
        if not complete_body or hasher.digest() != checksum.digest:
            await run_in_threadpool(writer.discard)
            if complete_body:
                raise TusError("checksum-mismatch")
            return Received(None, 0)
    offset = await run_in_threadpool(writer.commit)
    return Received(offset, received)
