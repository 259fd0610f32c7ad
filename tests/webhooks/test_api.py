"""POST/GET/DELETE /webhooks and the deliveries list: validation, the secret shown once, owners (404)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from catalog.keys import create_key
from catalog.session import Catalog
from ingest.settings import IngestSettings
from jobs.celery_app import make_celery
from tests.ingest.conftest import make_settings
from tests.ingest.harness import ServerThread
from tests.webhooks.receiver import Receiver
from webhooks.settings import WebhookSettings
from webhooks.tasks import run_deliveries

PUBLIC_URL = "http://93.184.216.34/hooks"  # a literal public address: no DNS in the test


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return make_settings(tmp_path, "filesystem", probe_on_completion=False)


@contextmanager
def serve(settings: IngestSettings) -> Iterator[httpx.Client]:
    """A real `vodstack serve ingest` in a thread, and a client of it."""
    from ingest.app import create_app

    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client


@pytest.fixture
def client(settings: IngestSettings) -> Iterator[httpx.Client]:
    with serve(settings) as client:
        yield client


@pytest.fixture
def keys(settings: IngestSettings, client: httpx.Client) -> dict[str, dict[str, str]]:
    catalog = Catalog(settings.catalog, apply_migrations=False)
    try:
        made = {
            "alice": create_key(catalog, "alice-key", frozenset({"upload", "read"}), "alice")[1],
            "alice-read": create_key(catalog, "alice-read", frozenset({"read"}), "alice")[1],
            "bob": create_key(catalog, "bob-key", frozenset({"upload", "read"}), "bob")[1],
        }
    finally:
        catalog.dispose()
    return {name: {"Authorization": f"Bearer {key}"} for name, key in made.items()}


def test_register_shows_the_secret_once(client: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
    made = client.post("/webhooks", json={"url": PUBLIC_URL, "event_types": ["asset.ready"]}, headers=keys["alice"])
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["asset.ready"]
    Webhook(body["secret"])  # the reference library accepts its format
    listed = client.get("/webhooks", headers=keys["alice-read"]).json()
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    one = client.get(f"/webhooks/{body['id']}", headers=keys["alice"]).json()
    assert one["url"] == PUBLIC_URL and "secret" not in one


def test_every_event_type_by_default(client: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
    body = client.post("/webhooks", json={"url": PUBLIC_URL}, headers=keys["alice"]).json()
    assert set(body["event_types"]) >= {
        "upload.completed",
        "asset.created",
        "asset.playable",
        "asset.ready",
        "asset.failed",
        "asset.deleted",
    }


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"url": PUBLIC_URL, "event_types": ["asset.exploded"]}, 400, "unknown_event_type"),
        ({"url": "http://127.0.0.1:8080/hook"}, 400, "target_refused"),
        ({"url": "http://10.1.2.3/hook"}, 400, "target_refused"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 400, "target_refused"),
        ({"url": "http://[::1]/hook"}, 400, "target_refused"),
        ({"url": "http://localhost/hook"}, 400, "target_refused"),
        ({"url": "gopher://example.com/"}, 400, "target_refused"),
        ({"url": "not a url"}, 400, "target_refused"),
        ({"event_types": ["asset.ready"]}, 422, None),  # no url: FastAPI's own validation body
        ({"url": 5}, 422, None),
    ],
)
def test_bad_registrations_are_4xx(
    client: httpx.Client, keys: dict[str, dict[str, str]], payload: dict[str, object], status: int, error: str | None
) -> None:
    response = client.post("/webhooks", json=payload, headers=keys["alice"])
    assert response.status_code == status, response.text
    if error is not None:
        assert response.json()["error"] == error
    assert client.get("/webhooks", headers=keys["alice"]).json() == []


def test_keys_see_only_their_owners_endpoints(client: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
    made = client.post("/webhooks", json={"url": PUBLIC_URL}, headers=keys["alice"]).json()
    path = f"/webhooks/{made['id']}"
    assert client.get("/webhooks", headers=keys["bob"]).json() == []
    for method, url in [("GET", path), ("DELETE", path), ("GET", f"{path}/deliveries")]:
        assert client.request(method, url, headers=keys["bob"]).status_code == 404
    assert client.get(path, headers=keys["alice"]).status_code == 200
    assert client.get("/webhooks/ep_missing", headers=keys["alice"]).status_code == 404
    # An admin token sees every owner's endpoints.
    assert [e["id"] for e in client.get("/webhooks", headers={"Authorization": "Bearer test-token"}).json()] == [
        made["id"]
    ]


def test_scopes_and_keys(client: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
    assert client.post("/webhooks", json={"url": PUBLIC_URL}).status_code == 401
    assert client.get("/webhooks").status_code == 401
    assert client.post("/webhooks", json={"url": PUBLIC_URL}, headers=keys["alice-read"]).status_code == 403


def test_delete(client: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
    made = client.post("/webhooks", json={"url": PUBLIC_URL}, headers=keys["alice"]).json()
    assert client.delete(f"/webhooks/{made['id']}", headers=keys["alice"]).status_code == 204
    assert client.get(f"/webhooks/{made['id']}", headers=keys["alice"]).status_code == 404
    assert client.delete(f"/webhooks/{made['id']}", headers=keys["alice"]).status_code == 404


def test_too_many_endpoints_is_409(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "filesystem", webhooks=WebhookSettings(max_endpoints_per_owner=2))
    with serve(settings) as client:
        statuses = [
            client.post(
                "/webhooks", json={"url": PUBLIC_URL}, headers={"Authorization": "Bearer test-token"}
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [201, 201, 409]


def test_upload_to_delivery_end_to_end(tmp_path: Path) -> None:
    """Register a loopback receiver, upload through TUS, run the delivery task: the events arrive signed,
    and the deliveries list shows each attempt."""
    settings = make_settings(
        tmp_path, "filesystem", probe_on_completion=False, webhooks=WebhookSettings(allow_private_targets=True)
    )
    admin = {"Authorization": "Bearer test-token"}
    tus = {"Tus-Resumable": "1.0.0"}
    with Receiver(statuses=[500]) as receiver, serve(settings) as client:
        made = client.post("/webhooks", json={"url": receiver.url}, headers=admin)
        assert made.status_code == 201, made.text
        endpoint = made.json()
        created = client.post("/files", headers={**admin, **tus, "Upload-Length": "5"})
        assert created.status_code == 201, created.text
        patched = client.patch(
            created.headers["location"],
            content=b"hello",
            headers={**admin, **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert patched.status_code == 204, patched.text
        catalog = Catalog(settings.catalog, apply_migrations=False)
        try:
            # asset.created (answered 500), upload.completed, asset.failed ("hello" is no video)
            first = run_deliveries(catalog, settings.webhooks)
            assert len(first.retrying) == 1 and len(first.delivered) == 2
        finally:
            catalog.dispose()
        deliveries = client.get(f"/webhooks/{endpoint['id']}/deliveries", headers=admin).json()
    by_type = {d["event_type"]: d for d in deliveries}
    assert set(by_type) == {"asset.created", "upload.completed", "asset.failed"}
    assert by_type["asset.created"]["state"] == "pending"
    assert [a["status_code"] for a in by_type["asset.created"]["attempt_log"]] == [500]
    assert by_type["asset.created"]["next_attempt_at"] is not None
    assert by_type["upload.completed"]["state"] == "delivered"
    assert by_type["upload.completed"]["attempt_log"][0]["status_code"] == 204
    for got in receiver.received:
        Webhook(endpoint["secret"]).verify(got.body, got.headers)
    received = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in receiver.received]
    assert [r["type"] for r in received] == ["asset.created", "upload.completed", "asset.failed"]
    assert received[1]["data"]["length"] == 5 and received[1]["data"]["asset_id"] == received[0]["data"]["asset_id"]
    assert received[2]["data"]["error"]  # the reason
