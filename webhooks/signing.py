"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com/, "Signature scheme").

A secret is `whsec_` + base64 of 32 random bytes. The signature of a message is
`v1,` + base64(HMAC-SHA256(secret bytes, f"{webhook-id}.{webhook-timestamp}.{body}")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header value for one delivery attempt."""
    content = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }
