"""The download of an import: from a user's URL into a local file, guarded and resumable.

Every hop (the URL and each redirect) goes through the SSRF guard (egress.targets) and the request
connects to the address that was checked. Limits: bytes (from Content-Length, else while reading),
the total time, connect and read timeouts, redirects. A connection that drops (reset, timeout, 5xx,
a body shorter than announced) is resumed with `Range` from the bytes already written when the
server answered with a strong validator (ETag or Last-Modified, sent back as If-Range so a changed
file restarts from zero instead of being spliced), else from the start.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from egress.errors import TargetRefused
from egress.targets import Resolver, pinned_request, resolve_target, system_resolver
from importer.errors import Dropped, SourceFailed

REDIRECTS = (301, 302, 303, 307, 308)
TRANSIENT = (408, 425, 429, 500, 502, 503, 504)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int
    total_seconds: float
    connect_timeout: float
    read_timeout: float
    max_redirects: int
    max_resumes: int


@dataclass(frozen=True)
class Downloaded:
    size: int
    resumes: int  # connections that dropped and were resumed
    ranged: bool  # some resume used Range (kept the bytes it had)


def _mib(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB"


class Download:
    """One download into `dest` (+ `dest`.json: the validator, so a retried task can resume too)."""

    def __init__(
        self,
        url: str,
        dest: Path,
        limits: DownloadLimits,
        *,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_seconds: float = 30.0,
    ) -> None:
        self.url, self.dest, self.limits, self.allow_private = url, dest, limits, allow_private
        self.resolver, self.clock = resolver, clock
        self.heartbeat, self.heartbeat_seconds = heartbeat, heartbeat_seconds
        self.last_beat = clock()
        self.deadline = clock() + limits.total_seconds
        self.sidecar = dest.with_name(dest.name + ".json")
        self.validator: str | None = None
        self.ranged = False
        timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
        # No redirects by httpx (each hop is checked here); trust_env=False: no proxy would see the checked address.
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, transport=transport)

    def run(self) -> Downloaded:
        """Download the whole source; SourceFailed with a readable reason otherwise."""
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._load_validator()
        resumes = 0
        try:
            while True:
                self._beat(force=True)
                try:
                    size = self._fetch()
                    return Downloaded(size=size, resumes=resumes, ranged=self.ranged)
                except Dropped as exc:
                    resumes += 1
                    if resumes > self.limits.max_resumes:
                        raise SourceFailed(
                            f"the source kept failing ({self.limits.max_resumes} resumes); last: {exc}"
                        ) from None
        finally:
            self.client.close()

    def discard(self) -> None:
        self.dest.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)

    # -- one request, following redirects

    def _offset(self) -> int:
        return self.dest.stat().st_size if self.dest.exists() else 0

    def _restart(self) -> None:
        self.dest.write_bytes(b"")
        self.validator = None
        self.sidecar.unlink(missing_ok=True)

    def _beat(self, *, force: bool = False) -> None:
        """Tell the caller the download is alive (at most every heartbeat_seconds unless forced)."""
        now = self.clock()
        if self.heartbeat is not None and (force or now - self.last_beat >= self.heartbeat_seconds):
            self.last_beat = now
            self.heartbeat()

    def _check_time(self) -> None:
        if self.clock() > self.deadline:
            raise SourceFailed(f"the download took longer than {self.limits.total_seconds:.0f} s")

    def _fetch(self) -> int:
        current = self.url
        for _hop in range(self.limits.max_redirects + 1):
            self._check_time()
            try:
                target = resolve_target(current, allow_private=self.allow_private, resolver=self.resolver)
            except TargetRefused as exc:
                where = "the source URL" if current == self.url else f"a redirect to {current[:200]}"
                raise SourceFailed(f"{where} is refused: {exc}") from None
            offset = self._offset()
            if offset and self.validator is None:
                self._restart()  # bytes of unknown provenance: not spliced onto
                offset = 0
            headers = {"accept-encoding": "identity", "user-agent": "vodstack-import"}
            if offset:
                headers["range"] = f"bytes={offset}-"
                headers["if-range"] = self.validator or ""
            try:
                request = pinned_request(self.client, "GET", target, headers)
                response = self.client.send(request, stream=True)
            except (httpx.InvalidURL, ValueError) as exc:
                raise SourceFailed(f"not a valid URL: {exc}") from None
            except httpx.HTTPError as exc:
                raise Dropped(f"{type(exc).__name__}: {exc}") from None
            try:
                if response.status_code in REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise SourceFailed(f"the source answered HTTP {response.status_code} without a Location")
                    try:
                        current = str(httpx.URL(current).join(location))
                    except httpx.InvalidURL as exc:
                        raise SourceFailed(f"the source redirected to an invalid URL: {exc}") from None
                    continue
                return self._receive(response, offset)
            finally:
                response.close()
        raise SourceFailed(f"the source redirected more than {self.limits.max_redirects} times")

    # -- the answer

    def _receive(self, response: httpx.Response, offset: int) -> int:
        status = response.status_code
        if status == 416 and offset:
            total = _total_of(response.headers.get("content-range"))
            if total == offset:
                return offset  # every byte was already here
            self._restart()
            raise Dropped("the server refused the range; starting over")
        if status in TRANSIENT:
            raise Dropped(f"HTTP {status}")
        if status not in (200, 206):
            raise SourceFailed(f"the source answered HTTP {status}")
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if match is None or int(match.group(1)) != offset:
                self._restart()
                raise Dropped("the server answered another range than asked; starting over")
            total = None if match.group(3) == "*" else int(match.group(3))
            self.ranged = True
        else:
            if offset:
                self._restart()  # If-Range did not match (the file changed) or no range support
                offset = 0
            length = response.headers.get("content-length", "")
            total = int(length) if length.isdigit() else None
        if total is not None and total > self.limits.max_bytes:
            raise SourceFailed(f"the source is {_mib(total)}, over the {_mib(self.limits.max_bytes)} import limit")
        self._keep_validator(response)
        with self.dest.open("ab") as out:
            written = offset + self._copy(response, out, offset)
        if total is not None and written != total:
            raise Dropped(f"the connection closed after {written} of {total} bytes")
        if written == 0:
            raise SourceFailed("the source is empty (0 bytes)")
        return written

    def _copy(self, response: httpx.Response, out: IO[bytes], offset: int) -> int:
        copied = 0
        try:
            # As the network delivers (no re-chunking): what arrived before a drop is kept and not asked again.
            for chunk in response.iter_raw():
                self._check_time()
                self._beat()
                if offset + copied + len(chunk) > self.limits.max_bytes:
                    raise SourceFailed(f"the source is larger than the {_mib(self.limits.max_bytes)} import limit")
                out.write(chunk)
                copied += len(chunk)
        except httpx.HTTPError as exc:
            out.flush()
            raise Dropped(f"{type(exc).__name__} after {offset + copied} bytes: {exc}") from None
        return copied

    def _keep_validator(self, response: httpx.Response) -> None:
        etag = response.headers.get("etag")
        strong = etag if etag and not etag.startswith("W/") else None
        validator = strong or response.headers.get("last-modified")
        accepts = response.status_code == 206 or response.headers.get("accept-ranges", "").lower() == "bytes"
        self.validator = validator if accepts else None
        if self.validator is None:
            self.sidecar.unlink(missing_ok=True)
        else:
            self.sidecar.write_text(json.dumps({"url": self.url, "validator": self.validator}))

    def _load_validator(self) -> None:
        try:
            saved = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            return
        if isinstance(saved, dict) and saved.get("url") == self.url and isinstance(saved.get("validator"), str):
            self.validator = saved["validator"]


def _total_of(content_range: str | None) -> int | None:
    match = re.fullmatch(r"bytes \*/(\d+)", (content_range or "").strip())
    return int(match.group(1)) if match else None
