"""Where ffmpeg reads a job's original.

In place on the filesystem backend. Elsewhere (S3) the first attempt hands ffmpeg a presigned URL,
through the loopback relay (media.relay: the URL, a credential, is never on ffmpeg's command line),
and it reads by byte ranges as it goes: the encode starts at once instead of after a multi-GB
download, nothing is copied to the worker's disk, and a split job's chunk transfers only its own
stretch of the file. Should a streamed attempt fail, for whatever reason, the retry downloads the
original first, as a network path that breaks long reads still gets the job done that way.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from media.probe_sandbox import ORIGINAL_NAME, download_original
from media.relay import RELAY
from storage.objects import ObjectStore
from transcoder.encode.runner import CANCELLED
from transcoder.errors import EncodeFailed, TransientError

# How long past the job's own deadline a presigned URL stays valid (ffmpeg reconnects to it).
URL_MARGIN = timedelta(minutes=10)


def original_for_ffmpeg(
    store: ObjectStore, bucket: str, key: str, work: Path, *, stream: bool, deadline_seconds: float
) -> tuple[str, bool]:
    """(path or URL for ffmpeg's -i, whether it is read over HTTP)."""
    local = store.local_path(bucket, key)
    if local is not None:
        return str(local), False
    dest = work / ORIGINAL_NAME
    if dest.is_file():  # the probe downloaded it already (its URL could not be read)
        return str(dest), False
    if stream:
        validity = timedelta(seconds=deadline_seconds) + URL_MARGIN
        url = store.read_url(bucket, key, validity)
        if url is not None:
            return RELAY.register(url, validity), True
    return str(download_original(store, bucket, key, work)), False


def retry_with_download(exc: EncodeFailed) -> TransientError | EncodeFailed:
    """What a failed streamed attempt raises: a retry (which downloads) unless it was cancelled."""
    if exc.reason == CANCELLED:
        return exc
    return TransientError(
        f"reading the original over HTTP failed ({exc.message}); the next attempt downloads it",
        reason="source_stream",
    )
