"""OPTIONS, version negotiation, method override, CORS: the endpoint-wide rules."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from ingest.app import create_app
from ingest.settings import IngestSettings
from jobs.celery_app import make_celery
from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import ServerThread, Tus


def test_options_advertises_server_capabilities(tus: Tus, settings) -> None:
    r = tus.http.options("/files/")
    assert r.status_code == 204
    assert r.headers["tus-resumable"] == "1.0.0"
    assert r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "checksum",
        "termination",
        "concatenation",
    }
    assert int(r.headers["tus-max-size"]) == settings.max_size
    assert {"sha1", "md5", "sha256"} <= set(r.headers["tus-checksum-algorithm"].split(","))


def test_unsupported_version_is_412_with_tus_version(tus: Tus) -> None:
    path = tus.new(10)
    for headers in ({"Tus-Resumable": "0.2.2"}, {"Tus-Resumable": ""}):
        r = tus.head(path, headers)
        assert r.status_code == 412
        assert r.headers["tus-version"] == "1.0.0"
        assert r.headers["tus-resumable"] == "1.0.0"
    r = tus.http.post("/files/", headers={"Authorization": tus.auth["Authorization"], "Upload-Length": "1"})
    assert r.status_code == 412 and "Tus-Resumable" in r.text


def test_method_override_tunnels_patch_and_delete(tus: Tus) -> None:
    path = tus.new(4)
    r = tus.http.post(
        path,
        content=b"ab",
        headers={
            **tus.auth,
            "X-HTTP-Method-Override": "PATCH",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert r.status_code == 204 and r.headers["upload-offset"] == "2"
    r = tus.http.post(path, headers={**tus.auth, "X-HTTP-Method-Override": "DELETE"})
    assert r.status_code == 204
    assert tus.head(path).status_code == 404


def test_cors_only_for_listed_origins(tmp_path: Path) -> None:
    origin = "https://creator.example"
    settings = make_settings(tmp_path, "filesystem", cors_origins=[origin])
    preflight = {
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type,authorization,upload-checksum",
    }
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as srv:
        tus = Tus(srv.url, TOKEN)
        r = tus.http.options("/files/", headers={"Origin": origin, **preflight})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert "access-control-allow-credentials" not in r.headers
        assert "PATCH" in r.headers["access-control-allow-methods"]
        r = tus.create(5, headers={"Origin": origin})
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"location", "upload-offset", "upload-length", "upload-expires", "tus-resumable"} <= exposed
        assert {"tus-version", "tus-extension", "tus-max-size"} <= exposed
        # An origin not on the list gets no CORS header at all, on a preflight or a read.
        other = "https://evil.example"
        r = tus.http.options("/files/", headers={"Origin": other, **preflight})
        assert "access-control-allow-origin" not in r.headers
        r = tus.http.get("/assets", headers={"Origin": other, "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        tus.close()


def test_no_cors_by_default(tus: Tus) -> None:
    """The page is served by this service (same origin): no other origin may read anything."""
    for method, path in (("OPTIONS", "/files/"), ("GET", "/assets"), ("GET", "/healthz")):
        r = tus.http.request(
            method,
            path,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET", **tus.auth},
        )
        assert not any(h.startswith("access-control-") for h in r.headers), (path, r.headers)


def test_cors_origins_are_explicit() -> None:
    for bad in ("*", "https://*.example", "example.com", "https://a.example/path"):
        with pytest.raises(ValidationError):
            IngestSettings(cors_origins=[bad])


def test_healthz_and_metrics(tus: Tus) -> None:
    path = tus.new(3)
    tus.patch(path, 0, b"abc")
    assert tus.http.get("/healthz").json() == {"status": "ok"}
    text = tus.http.get("/metrics").text
    assert 'vodstack_ingest_requests_total{method="PATCH",status="204"} 1.0' in text
    assert "vodstack_ingest_received_bytes_total 3.0" in text
    assert 'vodstack_ingest_uploads_total{event="created"} 1.0' in text
    assert 'vodstack_ingest_uploads_total{event="finished"} 1.0' in text
    assert "vodstack_ingest_active_uploads 0.0" in text
    assert "vodstack_ingest_request_duration_seconds_bucket" in text


def test_auth_is_required(tus: Tus) -> None:
    path = tus.new(3)
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}):
        headers = {"Tus-Resumable": "1.0.0", "Upload-Length": "3", **auth}
        r = httpx.post(f"{tus.http.base_url}/files/", headers=headers)
        assert r.status_code == 401 and "token" in r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert tus.http.head(path, headers={"Tus-Resumable": "1.0.0", **auth}).status_code == 401


def test_metrics_can_require_a_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "filesystem", metrics_token="scrape-me")
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as srv:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}"}):
            r = httpx.get(f"{srv.url}/metrics", headers=headers)
            assert r.status_code == 401 and "vodstack_" not in r.text
        r = httpx.get(f"{srv.url}/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert r.status_code == 200 and "vodstack_ingest_requests_total" in r.text
