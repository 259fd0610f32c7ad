"""Signatures verify with the Standard Webhooks reference library, and only for the bytes signed."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.events import new_message_id, render_payload
from webhooks.signing import SECRET_PREFIX, new_secret, signed_headers


def test_secret_format() -> None:
    secret = new_secret()
    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret.removeprefix(SECRET_PREFIX))) == 32
    assert new_secret() != secret


def test_reference_library_verifies_our_signature() -> None:
    from datetime import UTC, datetime

    secret = new_secret()
    body = render_payload("asset.ready", {"asset_id": "a1", "state": "ready"}, datetime.now(UTC))
    headers = signed_headers(secret, new_message_id(), int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == {
        "type": "asset.ready",
        "timestamp": body.split('"timestamp":"')[1].split('"')[0],
        "data": {"asset_id": "a1", "state": "ready"},
    }


@pytest.mark.parametrize("tamper", ["body", "id", "secret"])
def test_reference_library_refuses_a_changed_message(tamper: str) -> None:
    secret, message_id, body = new_secret(), new_message_id(), '{"type":"asset.ready"}'
    headers = signed_headers(secret, message_id, int(time.time()), body)
    if tamper == "body":
        body = '{"type":"asset.failed"}'
    elif tamper == "id":
        headers["webhook-id"] = new_message_id()
    else:
        secret = new_secret()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
