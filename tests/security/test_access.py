"""The attacker's view of a running ingest service (`vodstack serve ingest`, a real process on
loopback, with the web page mounted as in `vodstack up`): what anonymous callers and other owners'
keys can reach. Keys are made with the real `vodstack keys create`.

Alice and Bob each hold an upload+read key; Bob owns a private, ready asset (signed playback URLs)
and an unfinished upload. The admin is the development token, as `vodstack up` prints it.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from vodstack.supervisor import free_port

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]

TUS = {"Tus-Resumable": "1.0.0"}
EVIL = "https://evil.example"


@dataclass
class Service:
    url: str
    env: dict[str, str]
    log: Path
    keys: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, list[str]] = field(default_factory=dict)  # every body each caller was sent

    def call(
        self, who: str, method: str, path: str, headers: dict[str, str] | None = None, content: bytes | None = None
    ) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.keys[who]}"} if who != "anonymous" else {}
        url = f"{self.url}{path}"
        response = httpx.request(method, url, headers={**auth, **(headers or {})}, content=content, timeout=30)
        self.bodies.setdefault(who, []).append(response.text)
        return response


def _vodstack(env: dict[str, str], *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "vodstack", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def _create_key(env: dict[str, str], name: str, scopes: str, owner: str) -> str:
    out = _vodstack(env, "keys", "create", "--name", name, "--scope", scopes, "--owner", owner)
    key = out.strip().splitlines()[-1]
    assert key.startswith("vsk_"), out
    return key


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("security")
    data = tmp / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODSTACK_")}
    env.update(
        VODSTACK_DATA_DIR=str(data),
        VODSTACK_CATALOG_URL=f"sqlite:///{data / 'catalog.db'}",
        VODSTACK_BROKER_URL="filesystem://",
        VODSTACK_INGEST_SIGNING_SECRET="playback-secret",
        VODSTACK_INGEST_CLEANUP_INTERVAL_SECONDS="0",
        VODSTACK_INGEST_PROBE_ON_COMPLETION="false",
    )
    # Keys first: the CLI applies the migrations before the service starts.
    keys = {
        "alice": _create_key(env, "alice-laptop", "upload,read", "alice"),
        "bob": _create_key(env, "bob-ci", "upload,read", "bob"),
        "alice-reader": _create_key(env, "alice-dashboard", "read", "alice"),
        "alice-uploader": _create_key(env, "alice-camera", "upload", "alice"),
        "revoked": _create_key(env, "old-key", "upload,read,admin", "carol"),
    }
    _vodstack(env, "keys", "revoke", "old-key")
    port = free_port()
    log = tmp / "ingest.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vodstack", "serve", "ingest", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        keys["admin"] = (data / "dev-token").read_text().strip()
        yield Service(url, env, log, keys)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _new_upload(service: Service, who: str, length: int = 10, **meta: str) -> tuple[str, str]:
    """Create an upload as `who`; return its path and its asset id."""
    headers = {**TUS, "Upload-Length": str(length)}
    if meta:
        headers["Upload-Metadata"] = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    created = service.call(who, "POST", "/files/", headers=headers)
    assert created.status_code == 201, created.text
    return httpx.URL(created.headers["location"]).path, created.headers["vodstack-asset-id"]


def _patch(service: Service, who: str, path: str, offset: int, data: bytes) -> httpx.Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return service.call(who, "PATCH", path, headers=headers, content=data)


def _publish_private(service: Service, asset_id: str) -> None:
    """What the transcoder does when it publishes, for a private asset (signed playback URLs)."""
    catalog = Catalog(CatalogSettings(url=service.env["VODSTACK_CATALOG_URL"]), apply_migrations=False)
    with catalog.session() as session:
        asset = session.get(Asset, asset_id)
        assert asset is not None
        asset.state, asset.public, asset.ready_at = AssetState.READY, False, datetime.now(UTC)
        asset.master_key, asset.dash_key = f"{asset_id}/master.m3u8", f"{asset_id}/manifest.mpd"
        asset.error = "bob's secret failure reason"
    catalog.dispose()


@pytest.fixture(scope="module")
def bob(service: Service) -> dict[str, str]:
    """Bob's unfinished upload and his private ready asset."""
    upload, upload_asset = _new_upload(service, "bob", 10, filename="bob-draft.mp4")
    assert _patch(service, "bob", upload, 0, b"abc").status_code == 204
    _, asset_id = _new_upload(service, "bob", 10, filename="bob-private.mp4", visibility="private")
    _publish_private(service, asset_id)
    # Control: Bob himself gets a signed URL, so the "no token" checks below can fail.
    own = service.call("bob", "GET", f"/assets/{asset_id}").json()
    assert "token=" in own["playback"]["hls"]
    return {"upload": upload, "upload_asset": upload_asset, "asset": asset_id}


def test_anonymous_callers_get_only_healthz_and_the_page_shell(service: Service, bob: dict[str, str]) -> None:
    asset, upload = bob["asset"], bob["upload"]
    refused = [
        ("GET", "/assets", {}),
        ("GET", f"/assets/{asset}", {}),
        ("DELETE", f"/assets/{asset}", {}),
        ("POST", "/files/", {**TUS, "Upload-Length": "5"}),
        ("HEAD", upload, TUS),
        ("PATCH", upload, {**TUS, "Upload-Offset": "3", "Content-Type": "application/offset+octet-stream"}),
        ("DELETE", upload, TUS),
    ]
    for method, path, headers in refused:
        for auth in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
            r = service.call("anonymous", method, path, headers={**headers, **auth})
            assert r.status_code == 401, (method, path, auth, r.status_code, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
    # A revoked key is no key at all, even one that had the admin scope.
    assert service.call("revoked", "GET", "/assets").status_code == 401
    assert service.call("revoked", "DELETE", f"/assets/{asset}").status_code == 401
    assert service.call("anonymous", "GET", "/healthz").json() == {"status": "ok"}
    assert service.call("anonymous", "GET", "/").status_code == 200
    # Nothing was changed by any of that.
    assert service.call("bob", "GET", f"/assets/{asset}").json()["state"] == "ready"
    assert service.call("bob", "HEAD", upload, headers=TUS).headers["upload-offset"] == "3"


def test_another_owners_upload_answers_404(service: Service, bob: dict[str, str]) -> None:
    upload = bob["upload"]
    missing = "/files/" + "0" * 32
    for path in (upload, missing):  # indistinguishable from an id that does not exist
        assert service.call("alice", "HEAD", path, headers=TUS).status_code == 404
        assert _patch(service, "alice", path, 3, b"xyz").status_code == 404
        assert service.call("alice", "DELETE", path, headers=TUS).status_code == 404
    # A final upload cannot adopt someone else's partial either.
    concat = {**TUS, "Upload-Concat": f"final;{upload}"}
    assert service.call("alice", "POST", "/files/", headers=concat).status_code == 400
    head = service.call("bob", "HEAD", upload, headers=TUS)
    assert head.status_code == 200 and head.headers["upload-offset"] == "3"
    assert _patch(service, "bob", upload, 3, b"def").status_code == 204


def test_another_owners_asset_answers_404_and_is_never_listed(service: Service, bob: dict[str, str]) -> None:
    asset = bob["asset"]
    mine_path, mine = _new_upload(service, "alice", 10, filename="alice.mp4")
    assert service.call("alice", "GET", f"/assets/{asset}").status_code == 404
    assert service.call("alice", "DELETE", f"/assets/{asset}").status_code == 404
    assert service.call("alice", "GET", f"/assets/{'0' * 32}").status_code == 404
    listed = {a["id"] for a in service.call("alice", "GET", "/assets?limit=500").json()}
    assert mine in listed and asset not in listed and bob["upload_asset"] not in listed
    assert asset in {a["id"] for a in service.call("bob", "GET", "/assets?limit=500").json()}
    assert service.call("bob", "GET", f"/assets/{asset}").json()["state"] == "ready"
    # Her own asset she may read and delete.
    assert service.call("alice", "GET", f"/assets/{mine}").status_code == 200
    assert service.call("alice", "DELETE", f"/assets/{mine}").status_code == 204
    assert mine_path


def test_scopes_limit_what_a_key_does(service: Service) -> None:
    assert service.call("alice-reader", "POST", "/files/", headers={**TUS, "Upload-Length": "5"}).status_code == 403
    assert service.call("alice-reader", "GET", "/assets").status_code == 200
    path, asset = _new_upload(service, "alice-uploader", 5)
    assert service.call("alice-uploader", "GET", "/assets").status_code == 403
    assert service.call("alice-uploader", "GET", f"/assets/{asset}").status_code == 403
    # Same owner: the reader key sees what the camera key uploaded, but cannot delete it or touch the upload.
    assert service.call("alice-reader", "GET", f"/assets/{asset}").status_code == 200
    assert service.call("alice-reader", "DELETE", f"/assets/{asset}").status_code == 403
    assert service.call("alice-reader", "HEAD", path, headers=TUS).status_code == 403


def test_the_admin_sees_every_owner_and_deletions_are_audited(service: Service, bob: dict[str, str]) -> None:
    _, doomed = _new_upload(service, "bob", 10, filename="bob-doomed.mp4")
    listed = {a["id"] for a in service.call("admin", "GET", "/assets?limit=500").json()}
    assert {bob["asset"], doomed} <= listed
    assert service.call("admin", "HEAD", bob["upload"], headers=TUS).status_code == 200
    assert service.call("admin", "DELETE", f"/assets/{doomed}").status_code == 204
    assert service.call("bob", "GET", f"/assets/{doomed}").json()["state"] == "deleted"
    draft, _ = _new_upload(service, "bob", 10)
    assert service.call("admin", "DELETE", draft, headers=TUS).status_code == 204
    assert service.call("bob", "HEAD", draft, headers=TUS).status_code == 404
    upload_id = draft.rsplit("/", 1)[-1]
    expected = [
        f"delete asset {doomed} of bob by key 'dev token' (admin)",
        f"terminate upload {upload_id} of bob by key 'dev token' (admin)",
    ]
    deadline = time.monotonic() + 60
    while not all(line in service.log.read_text() for line in expected):
        assert time.monotonic() < deadline, service.log.read_text()
        time.sleep(0.1)
    assert "vodstack.audit" in service.log.read_text()


def test_no_key_in_the_page(service: Service) -> None:
    for path in ("/", "/watch/abc", "/embed/abc", "/static/upload.js", "/static/uploads.js", "/static/auth.js"):
        body = service.call("anonymous", "GET", path).text
        assert not any(key in body for key in service.keys.values()), path
        assert not re.search(r"vsk_[\w-]{20,}", body), path  # no key of any principal either


def test_no_cross_origin_reads(service: Service, bob: dict[str, str]) -> None:
    preflight = {
        "Origin": EVIL,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    for path in ("/assets", f"/assets/{bob['asset']}", "/files/", "/metrics", "/"):
        r = service.call("anonymous", "OPTIONS", path, headers=preflight)
        assert "access-control-allow-origin" not in r.headers, path
        assert "access-control-allow-credentials" not in r.headers, path
    # Even with a key (as the victim's browser would send a cookie, were there one) the answer has no
    # CORS grant, so an evil page's script cannot read it.
    for who in ("bob", "admin"):
        r = service.call(who, "GET", f"/assets/{bob['asset']}", headers={"Origin": EVIL})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_no_playback_token_reaches_anyone_but_the_owner(service: Service, bob: dict[str, str]) -> None:
    asset = bob["asset"]
    for who in ("anonymous", "alice", "alice-reader", "alice-uploader", "revoked"):
        for path in ("/assets?limit=500", f"/assets/{asset}", f"/assets/{bob['upload_asset']}"):
            service.call(who, "GET", path)
        service.call(who, "DELETE", f"/assets/{asset}")
    # Every body each caller other than Bob and the admin was sent, by this test and those before it.
    others = [who for who in service.bodies if who not in ("bob", "admin")]
    for who in others:
        for body in service.bodies[who]:
            assert "token=" not in body, (who, body[:300])
            assert "bob's secret failure reason" not in body, (who, body[:300])
