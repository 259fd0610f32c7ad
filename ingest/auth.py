"""Who is calling: bearer keys resolved to a principal with scopes.

Scopes: `upload` (create and continue one's own uploads, delete one's own assets), `read` (list and
read one's own assets, with their playback URLs), `admin` (everything, every owner's objects). A key
acts for its owner only; another owner's upload or asset is answered as missing (404), so ids do not
leak. The configured tokens (VODSTACK_INGEST_TOKENS, or the development token when none is set) are
admin keys of the owner "operator", so existing deployments keep working.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from catalog.keys import find_key
from catalog.session import Catalog
from ingest.errors import TusError

# Every admin action (deletions, key creation and revocation) is logged here with the key's name.
audit = logging.getLogger("vodstack.audit")

OPERATOR = "operator"  # owner of whatever the configured tokens create
# Where a request keeps the key it resolved and its principal (the ASGI scope's "state", which
# Starlette's request.state reads): the rate limiter and the route look a key up once between them.
RESOLVED = "vodstack.principal"


@dataclass(frozen=True)
class Principal:
    owner: str
    key_name: str
    scopes: frozenset[str]

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def may(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def owns(self, owner: str | None) -> bool:
        """Whether this key may see an object of `owner` (objects older than owners: admins only)."""
        return self.admin or (owner is not None and owner == self.owner)


@dataclass(frozen=True)
class KeyRing:
    """Resolves a bearer key: the configured tokens first (in memory), then the catalog's keys."""

    catalog: Catalog
    tokens: dict[str, str]  # the configured admin tokens by their name in the audit log

    def configured(self, key: str) -> Principal | None:
        """The principal of a configured token (no I/O), or None."""
        # Compare against every token so timing does not reveal which one was close.
        matched: str | None = None
        for name, candidate in self.tokens.items():
            if secrets.compare_digest(candidate.encode(), key.encode()):
                matched = name
        return None if matched is None else Principal(OPERATOR, matched, frozenset({"admin"}))

    def stored(self, key: str) -> Principal | None:
        """The principal of a live catalog key, or None (blocking: call from a worker thread)."""
        record = find_key(self.catalog, key)
        return None if record is None else Principal(record.owner, record.name, record.scopes)

    async def resolve(self, scope: MutableMapping[str, Any], key: str) -> Principal | None:
        """The principal of `key` (None: not a valid key), resolved once per request: the answer,
        invalid keys' included, is kept in the request's ASGI state for whoever asks next."""
        state = scope.setdefault("state", {})
        resolved = state.get(RESOLVED)
        if resolved is not None and secrets.compare_digest(resolved[0].encode(), key.encode()):
            return resolved[1]  # type: ignore[no-any-return]
        principal = self.configured(key) or await run_in_threadpool(self.stored, key)
        state[RESOLVED] = (key, principal)
        return principal


def bearer_key(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header; TusError("unauthorized") otherwise."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise TusError("unauthorized")
    return key.strip()


def require(principal: Principal, scope: str) -> None:
    if not principal.may(scope):
        raise TusError("forbidden", f"this key lacks the {scope!r} scope")
