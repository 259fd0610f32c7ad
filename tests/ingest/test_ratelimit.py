"""Rate limits on the ingest API: uploads created and body bytes per key, API calls per key or client
address; 429 with Retry-After and the RateLimit-Policy / RateLimit fields. In memory (the embedded
default) and, marked redis, one budget shared by two ingest processes on one Redis.

Windows are an hour long and start at a budget's first hit (limits' fixed window), so no test here
can cross into a new window however slowly it runs."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event

from catalog.keys import KEY_PREFIX, create_key
from ingest.app import create_app
from ingest.settings import IngestSettings
from jobs.celery_app import make_celery
from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import TUS, IngestProcess, ServerThread, Tus
from traffic.settings import RateLimitSettings

RATELIMIT = re.compile(r'^"([a-z-]+)";r=(\d+);t=(\d+)$')


def _limited(tmp_path: Path, **limits: object) -> IngestSettings:
    return make_settings(tmp_path, "filesystem", ratelimit=RateLimitSettings(**limits))  # type: ignore[arg-type]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    servers: list[ServerThread] = []

    def start(settings: IngestSettings) -> str:
        server = ServerThread(create_app(settings, celery_app=make_celery(settings.broker))).__enter__()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _remaining(response: httpx.Response, policy: str) -> int:
    for member in response.headers["ratelimit"].split(", "):
        match = RATELIMIT.match(member)
        assert match, member
        if match[1] == policy:
            return int(match[2])
    raise AssertionError(f"no {policy} in {response.headers['ratelimit']}")


def _assert_refused(response: httpx.Response, policy: str, window: int = 3600) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= window
    assert f'"{policy}";q=' in response.headers["ratelimit-policy"]
    assert _remaining(response, policy) == 0


def test_upload_creation_per_key(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    url = serve(_limited(tmp_path, upload_create="5/hour"))
    tus = Tus(url, TOKEN)
    answers = [tus.create(100) for _ in range(8)]
    assert [r.status_code for r in answers] == [201] * 5 + [429] * 3
    assert answers[0].headers["ratelimit-policy"] == '"api-key";q=1200;w=60, "upload-create";q=5;w=3600'
    assert [_remaining(r, "upload-create") for r in answers[:5]] == [4, 3, 2, 1, 0]
    for refused in answers[5:]:
        _assert_refused(refused, "upload-create")
        assert refused.headers["tus-resumable"] == "1.0.0"
        assert "location" not in refused.headers
    # The other budgets of the same key are untouched: its uploads go on.
    assert tus.patch(tus.path_of(answers[0]), 0, b"x" * 100).status_code == 204
    tus.close()


def test_patch_bytes_per_key_refused_before_the_body_is_stored(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    url = serve(_limited(tmp_path, upload_bytes="1000/hour"))
    tus = Tus(url, TOKEN)
    path = tus.new(3000)
    first = tus.patch(path, 0, b"a" * 600)
    assert first.status_code == 204 and _remaining(first, "upload-bytes") == 400
    assert '"upload-bytes";q=1000;w=3600;qu="content-bytes"' in first.headers["ratelimit-policy"]
    refused = tus.patch(path, 600, b"b" * 600)
    _assert_refused(refused, "upload-bytes")
    assert tus.head(path).headers["upload-offset"] == "600"
    tus.close()


def test_api_calls_per_address_and_per_key(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    limited = _limited(tmp_path, api={"anonymous": "4/hour", "key": "6/hour"})
    url = serve(limited.model_copy(update={"cors_origins": ["http://page"]}))
    with httpx.Client(base_url=url) as http:
        # Bogus tokens do not buy a fresh budget each: they are the address's.
        bogus = [{"Authorization": f"Bearer bogus-{i}", "Upload-Length": "10", **TUS} for i in range(6)]
        anonymous = [http.post("/files/", headers=headers) for headers in bogus]
        assert [r.status_code for r in anonymous] == [401] * 4 + [429] * 2
        _assert_refused(anonymous[-1], "api-anonymous")
        keyed = [http.get("/assets", headers={"Authorization": f"Bearer {TOKEN}"}) for _ in range(8)]
        assert [r.status_code for r in keyed] == [200] * 6 + [429] * 2
        _assert_refused(keyed[-1], "api-key")
        # Health, metrics and CORS preflights are never counted nor refused.
        assert http.get("/healthz").status_code == 200
        assert http.get("/metrics").status_code == 200
        preflight = {"Origin": "http://page", "Access-Control-Request-Method": "POST"}
        assert http.options("/files/", headers=preflight).status_code == 200
        # A browser may read the answer's rate-limit fields.
        exposed = http.get("/assets", headers={"Origin": "http://page"}).headers["access-control-expose-headers"]
        assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= set(exposed.split(", "))


def test_method_override_is_counted_as_the_method_it_carries(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    url = serve(_limited(tmp_path, upload_bytes="1000/hour"))
    tus = Tus(url, TOKEN)
    path = tus.new(3000)
    tunneled = {"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"}
    headers = {**tus.auth, **tunneled, "Content-Type": "application/offset+octet-stream"}
    assert tus.http.post(path, headers=headers, content=b"a" * 900).status_code == 204
    headers["Upload-Offset"] = "900"
    _assert_refused(tus.http.post(path, headers=headers, content=b"b" * 900), "upload-bytes")
    tus.close()


def test_off_when_disabled(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    settings = _limited(tmp_path, upload_create="1/hour")
    url = serve(settings.model_copy(update={"rate_limits_enabled": False}))
    tus = Tus(url, TOKEN)
    created = [tus.create(10) for _ in range(3)]
    assert [r.status_code for r in created] == [201] * 3
    assert "ratelimit" not in created[0].headers
    tus.close()


@pytest.mark.redis
def test_two_replicas_share_one_budget_on_redis(tmp_path: Path) -> None:
    """Two ingest processes on one Redis (the lock backend's, reused for the budgets): a burst of
    uploads twice the budget, split across both and sent concurrently, gets exactly one budget's
    worth of 201s; the rest 429 with Retry-After."""
    budget = 12
    token = f"burst-{uuid.uuid4().hex}"  # a budget of its own in the shared Redis
    settings = make_settings(
        tmp_path, "filesystem", lock_backend="redis", redis_url=os.environ["VODSTACK_TEST_REDIS_URL"],
        ratelimit=RateLimitSettings(upload_create=f"{budget}/hour"),
    ).model_copy(update={"tokens": [token]})  # fmt: skip
    a = IngestProcess(settings).start()
    b = IngestProcess(settings)
    try:
        b.start()
        headers = {"Authorization": f"Bearer {token}", "Upload-Length": "10", **TUS}

        def create(i: int) -> httpx.Response:
            return httpx.post(f"{(a, b)[i % 2].url}/files/", headers=headers, timeout=60)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(create, range(2 * budget)))
        assert Counter(r.status_code for r in answers) == {201: budget, 429: budget}
        for refused in (r for r in answers if r.status_code == 429):
            _assert_refused(refused, "upload-create")
        # Both replicas answered some of each: the budget is one, not one per process.
        by_replica = Counter((i % 2, r.status_code) for i, r in enumerate(answers))
        assert by_replica[(0, 201)] + by_replica[(1, 201)] == budget
        assert by_replica[(0, 429)] > 0 or by_replica[(1, 429)] > 0
    finally:
        a.close()
        b.close()


def test_chunked_body_is_charged_as_it_arrives(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    """A PATCH without Content-Length cannot be refused for its size up front; what it sent is spent,
    so the next one waits for the window."""
    url = serve(_limited(tmp_path, upload_bytes="1000/hour"))
    tus = Tus(url, TOKEN)
    path = tus.new(3000)
    headers = {**tus.auth, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    chunked = tus.http.patch(path, headers=headers, content=iter([b"a" * 450, b"b" * 450]))
    assert chunked.status_code == 204 and "content-length" not in chunked.request.headers
    _assert_refused(tus.patch(path, 900, b"c" * 200), "upload-bytes")
    tus.close()


def test_a_catalog_key_is_looked_up_once_per_request(tmp_path: Path) -> None:
    # The rate limiter (who is calling: which budget) and the route (may it: which owner and scopes)
    # both need the caller's principal; the catalog is asked once per request, whatever the answer.
    app = create_app(_limited(tmp_path), celery_app=make_celery(_limited(tmp_path).broker))
    catalog = app.state.ingest.catalog
    _, key = create_key(catalog, "alice-key", frozenset({"upload", "read"}), "alice")
    lookups: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "FROM api_keys" in statement:
            lookups.append(statement)

    event.listen(catalog.engine, "before_cursor_execute", count)
    try:
        with ServerThread(app) as server:
            tus = Tus(server.url, key)
            for request, status in [
                (lambda: tus.create(100), 201),
                (lambda: httpx.get(f"{server.url}/assets", headers={"Authorization": f"Bearer {key}"}), 200),
                (
                    lambda: httpx.get(
                        f"{server.url}/assets", headers={"Authorization": f"Bearer {KEY_PREFIX}not-a-key"}
                    ),
                    401,
                ),
            ]:
                before = len(lookups)
                response = request()
                assert response.status_code == status, response.text
                assert "ratelimit" in response.headers  # the limiter did run, and identified the caller
                assert len(lookups) - before == 1, lookups[before:]
            tus.close()
    finally:
        event.remove(catalog.engine, "before_cursor_execute", count)
