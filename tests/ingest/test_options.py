"""OPTIONS, version negotiation, method override, CORS: the endpoint-wide rules."""

from __future__ import annotations

import httpx

from tests.ingest.harness import Tus


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


def test_cors_preflight_and_exposed_headers(tus: Tus) -> None:
    origin = "https://creator.example"
    r = tus.http.options(
        "/files/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type,authorization,upload-checksum",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", origin)
    assert "PATCH" in r.headers["access-control-allow-methods"]
    r = tus.create(5, headers={"Origin": origin})
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"location", "upload-offset", "upload-length", "upload-expires", "tus-resumable"} <= exposed
    assert {"tus-version", "tus-extension", "tus-max-size"} <= exposed


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
