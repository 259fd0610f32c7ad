"""Real Prometheus (Debian's binary) scraping a running `vodstack up` through a small workload:
every dashboard panel query returns data, every alert expression parses and evaluates cleanly.

Workload: one clip uploaded with tuspy and transcoded, one junk upload rejected, the clip played
through edge -> shield -> origin (ffmpeg as the player, then repeat and concurrent requests so
the caches hit and collapse).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest
import yaml

from observability.dashboards import all_queries
from observability.scrape import RULES_DIR, scrape_config
from tests.media import assert_plays_whole, make_clip
from tests.vodstack.test_stack import start_stack, stop_stack, tus_upload, wait_for_terminal
from vodstack.supervisor import free_port

pytestmark = [pytest.mark.prometheus, pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(600)]

PROMETHEUS = "/usr/bin/prometheus"
JOBS = {"ingest", "origin", "shield", "edge", "transcoder"}
# Storage lifecycle tiering is off by default; the workload runs with it on so its panels have data.
STACK_ENV = {"VODSTACK_TIERING_ENABLED": "true"}


class Prometheus:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url, self.proc = url, proc

    def query(self, expr: str) -> dict[str, Any]:
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = resp.json()
        assert resp.status_code == 200 and body["status"] == "success", f"{expr}\n{body}"
        return dict(body["data"])

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", timeout=10).raise_for_status().json()["data"]


def start_prometheus(tmp_path: Path, services: dict[str, Any], **options: Any) -> Prometheus:
    """Prometheus scraping `services` (scrape_config's `options`, e.g. token files) every second."""
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(scrape_config(services, interval="1s", **options)))
    port = free_port()
    with open(tmp_path / "prometheus.log", "wb") as log:  # the child writes to its own copy
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200:
                return prom
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"prometheus did not start:\n{(tmp_path / 'prometheus.log').read_text()}")
        time.sleep(0.2)


def wait_for_targets(prom: Prometheus) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        targets = prom.get("/api/v1/targets")["activeTargets"]
        if {t["labels"]["job"] for t in targets if t["health"] == "up"} == JOBS:
            return
        time.sleep(0.5)
    raise AssertionError(json.dumps(targets, indent=2))


def wait_for_scrapes(prom: Prometheus, count: int) -> None:
    """Return once Prometheus has scraped every target `count` more times (each target's lastScrape has
    moved on that often): the scrapes themselves, which a loaded machine delays, not a guess in seconds."""
    first = {t["scrapeUrl"]: t["lastScrape"] for t in prom.get("/api/v1/targets")["activeTargets"]}
    later: dict[str, set[str]] = {url: set() for url in first}
    deadline = time.monotonic() + 120
    while not all(len(scrapes) >= count for scrapes in later.values()):
        assert time.monotonic() < deadline, f"targets not scraped {count} times in 120 s: {later}"
        time.sleep(0.2)
        for target in prom.get("/api/v1/targets")["activeTargets"]:
            if target["scrapeUrl"] in later and target["lastScrape"] != first[target["scrapeUrl"]]:
                later[target["scrapeUrl"]].add(target["lastScrape"])


def play_through_edge(hls_url: str) -> None:
    assert_plays_whole(hls_url, 8.0)  # ffmpeg plays every rung and the audio, whole
    master = m3u8.loads(httpx.get(hls_url).raise_for_status().text, uri=hls_url)
    uris = []
    for playlist in master.playlists:
        media = m3u8.loads(httpx.get(playlist.absolute_uri).raise_for_status().text, uri=playlist.absolute_uri)
        uris += [segment.absolute_uri for segment in media.segments]
    with ThreadPoolExecutor(8) as pool:
        # Eight players asking for the same object at once: the edge collapses them.
        for uri in uris[-3:]:
            assert {r.status_code for r in pool.map(lambda u: httpx.get(u, timeout=30), [uri] * 8)} == {200}
        # Everything again: hits now.
        assert {r.status_code for r in pool.map(lambda u: httpx.get(u, timeout=30), uris)} == {200}


def viewer_session(hls_url: str) -> None:
    """A viewer as the edge sees one: the CMCD hls.js sends (its keys and encoding; the real hls.js
    sending it: tests/browser/test_qoe_playback.py) on the master, a media playlist and its first
    segments, one after a stall, and the startup beacon."""
    master = m3u8.loads(httpx.get(hls_url).raise_for_status().text, uri=hls_url)
    media_url = master.playlists[0].absolute_uri
    media = m3u8.loads(httpx.get(media_url).raise_for_status().text, uri=media_url)
    sid = '"live-prometheus-viewer"'

    def cmcd(**keys: str) -> dict[str, str]:
        return {"CMCD": ",".join(f"{k}={v}" if v else k for k, v in sorted({"sid": sid, **keys}.items()))}

    httpx.get(hls_url, params=cmcd(ot="m", su="")).raise_for_status()
    httpx.get(media_url, params=cmcd(ot="m", su="")).raise_for_status()
    for i in range(3):  # the 8 s clip has two 4 s segments: the third request asks for the first again
        segment = media.segments[i % len(media.segments)]
        # 200 ms of buffer reported, 0.5 s to the next request: the flagged third one follows a real stall
        # (the edge counts a `bs` only when the buffer could have run dry: cdn_edge/qoe.py).
        keys = {"ot": "v", "br": "730", "bl": "200", "mtp": "25000", "d": "4000"}
        keys |= {"su": ""} if i == 0 else {"bs": ""} if i == 2 else {}
        httpx.get(segment.absolute_uri, params=cmcd(**keys)).raise_for_status()
        time.sleep(0.5)  # the edge's clock: a gap between requests is watch time
    beacon = {"sid": sid.strip('"'), "event": "start", "startup_ms": 900}
    edge = httpx.URL(hls_url).copy_with(path="/qoe", query=None)
    assert httpx.post(edge, json=beacon).status_code == 204


def alert_exprs() -> dict[str, str]:
    exprs = {}
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                exprs[rule.get("alert") or rule["record"]] = rule["expr"]
    return exprs


def test_every_panel_returns_data_and_every_alert_evaluates(tmp_path: Path) -> None:
    assert os.path.exists(PROMETHEUS), "Debian's prometheus package is needed"
    stack = start_stack(tmp_path, STACK_ENV)
    prom = None
    try:
        prom = start_prometheus(tmp_path, stack.info)
        wait_for_targets(prom)

        clip = make_clip(tmp_path / "clip.mp4", seconds=8, size="640x360")
        asset = wait_for_terminal(stack, tus_upload(stack, clip))
        assert asset["state"] == "ready", asset
        junk = tmp_path / "junk.mp4"
        junk.write_bytes(os.urandom(200_000))
        assert wait_for_terminal(stack, tus_upload(stack, junk))["state"] == "failed"
        play_through_edge(str(asset["playback"]["hls"]))  # type: ignore[index]
        viewer_session(str(asset["playback"]["hls"]))  # type: ignore[index]
        wait_for_scrapes(prom, 3)  # a few more scrapes after the workload

        empty: list[str] = []
        for board, panel, expr in all_queries():
            if not prom.query(expr)["result"]:
                empty.append(f"{board.uid} / {panel.title}: {expr}")
        assert empty == [], "panels without data:\n" + "\n".join(empty)

        for expr in alert_exprs().values():
            prom.query(expr)  # parses and evaluates
        # And as loaded rules: every one evaluated without error.
        rules = [r for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]]
        assert {r["name"] for r in rules} == set(alert_exprs())
        assert [r["name"] for r in rules if r.get("health") == "err"] == []

        # The workload shows up as real numbers, not only zeros.
        def value(expr: str) -> float:
            return float(prom.query(expr)["result"][0]["value"][1])

        assert value('sum(vodstack_transcoder_jobs_finished_total{outcome="succeeded"})') >= 1
        assert value("sum(vodstack_transcoder_encoded_media_seconds_total)") >= 7
        assert value('sum(vodstack_edge_served_bytes_total{job="edge"})') > 100_000
        assert value('sum(vodstack_edge_requests_total{cache_status="hit"})') > 0
        assert value('sum(vodstack_ingest_uploads_total{event="finished"})') >= 2
        assert value('sum(vodstack_storage_tier_objects{tier="hot"})') > 0
        assert value('sum(vodstack_qoe_startup_seconds_count{source="edge"})') == 1
        assert value('sum(vodstack_qoe_startup_seconds_count{source="player"})') == 1
        assert value("sum(vodstack_qoe_media_requests_total)") == 3
        assert value("sum(vodstack_qoe_rebuffer_events_total)") == 1
    finally:
        if prom is not None:
            prom.proc.terminate()
            prom.proc.wait(timeout=30)
        stop_stack(stack, tmp_path)
