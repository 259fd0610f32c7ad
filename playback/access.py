"""Which assets need a playback token, and the one check that enforces it (origin and edges alike).

The origin decides an object's access class ("public" or "signed") and announces it in the
X-Vodstack-Access response header; caches store it with the object, so an edge can enforce the
token without a catalog of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from cachetools import TTLCache

from playback.clips import ClipRange
from playback.errors import TokenClipMismatch
from playback.signing import Grant, verify_token

log = logging.getLogger(__name__)

# Assets whose class is remembered at once; the least recently used is forgotten first.
CLASSIFIED_ASSETS = 10_000

ACCESS_HEADER = "x-vodstack-access"
PUBLIC = "public"
SIGNED = "signed"


def asset_of(key: str) -> str:
    """The asset id of a published key: its first path segment (`{asset_id}/...`)."""
    return key.split("/", 1)[0]


def check_access(
    access: str | None,
    secrets: Iterable[bytes],
    token: str | None,
    key: str,
    *,
    now: float,
    client_ip: str | None,
    clip: ClipRange | None = None,
    manifest: bool = False,
) -> Grant | None:
    """None for a public object; the grant for a signed one; a TokenError (403) otherwise.

    A token that is present is always verified, even on a public object: a bad token is a client bug
    or an attack, and answering 403 for it keeps the behaviour independent of the asset's class.
    A token bound to a clip range plays playlists and MPDs (`manifest`) only over exactly that range
    (`clip`, the request's): another range or the whole asset is TokenClipMismatch. Segments are not
    checked against the range: they carry no time, and a clipped playlist lists only its own.
    """
    secrets = [s for s in secrets if s]
    if not secrets:
        return None
    if token is None and access != SIGNED:
        return None
    grant = verify_token(secrets, token, asset_of(key), now=now, client_ip=client_ip)
    if manifest and grant.clip is not None and grant.clip != clip:
        wanted = "the whole asset" if clip is None else f"the range {clip.query()}"
        raise TokenClipMismatch(f"this token plays only the range {grant.clip.query()}, not {wanted}")
    return grant


class AccessClassifier:
    """Maps an asset id to its access class, per the origin's `access` setting."""

    def __init__(
        self,
        mode: str,
        lookup: Callable[[str], bool | None] | None = None,
        ttl: float = 30.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = mode
        # lookup(asset_id) -> Asset.public, or None when the asset is unknown.
        self.lookup = lookup
        self.ttl = ttl
        # Answers for `ttl` seconds of `timer`. classify() runs in worker threads and cachetools'
        # caches are not thread-safe: every access holds the lock (never across a lookup).
        self._answers: TTLCache[str, str] = TTLCache(maxsize=CLASSIFIED_ASSETS, ttl=ttl, timer=timer)
        self._lock = threading.Lock()

    def classify(self, asset_id: str) -> str:
        """Blocking when the mode is "catalog": call from a thread."""
        if self.mode == "public":
            return PUBLIC
        if self.mode == "signed" or self.lookup is None:
            return SIGNED
        with self._lock:
            hit = self._answers.get(asset_id)
        if hit is not None:
            return hit
        try:
            public = self.lookup(asset_id)
        except Exception:  # noqa: BLE001 - any catalog failure must fail closed, not 500
            log.warning("access lookup for asset %s failed; treating it as signed", asset_id, exc_info=True)
            return SIGNED  # not remembered: the next request asks again
        # Unknown assets are treated as signed: fail closed.
        answer = PUBLIC if public else SIGNED
        with self._lock:
            self._answers[asset_id] = answer
        return answer


def catalog_lookup(catalog_settings: object) -> Callable[[str], bool | None]:
    """A lookup reading Asset.public from the catalog (imported lazily: only "catalog" mode needs it)."""
    from catalog.models import Asset
    from catalog.session import Catalog

    catalog = Catalog(catalog_settings, apply_migrations=False)  # type: ignore[arg-type]

    def lookup(asset_id: str) -> bool | None:
        with catalog.session() as session:
            asset = session.get(Asset, asset_id)
            return None if asset is None else bool(asset.public)

    return lookup
