"""`vodstack upload FILE`: a resumable TUS upload with a progress bar, then the job followed to the end."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
from tqdm import tqdm
from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage

from vodstack.supervisor import SERVICES_FILE

CHUNK_SIZE = 8 * 1024 * 1024
POLL_SECONDS = 1.0


def _stack_info(data_dir: Path) -> dict[str, str]:
    path = data_dir / SERVICES_FILE
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()))


def find_asset_id(http: httpx.Client, upload_url: str, headers: dict[str, str]) -> str | None:
    """The asset created for an upload: the ingest API names it in the upload's HEAD response."""
    resp = http.head(upload_url, headers={**headers, "Tus-Resumable": "1.0.0"})
    return resp.headers.get("Vodstack-Asset-Id")


def upload_and_follow(path: Path, data_dir: Path, *, api: str | None, token: str | None, wait: bool) -> int:
    if not path.is_file():
        print(f"vodstack: no such file: {path}", file=sys.stderr)
        return 2
    info = _stack_info(data_dir)
    api = (api or info.get("ingest") or "http://127.0.0.1:8700").rstrip("/")
    token = token or info.get("token")
    if not token:
        from ingest.settings import IngestSettings, dev_token

        token = dev_token(IngestSettings())
    headers = {"Authorization": f"Bearer {token}"}

    client = tus_client.TusClient(f"{api}/files/", headers=headers)
    # Fingerprints and URLs of unfinished uploads: re-running the command resumes where it stopped.
    storage = FileStorage(str(data_dir / "tus-url-storage.json"))
    uploader = client.uploader(
        str(path),
        chunk_size=CHUNK_SIZE,
        metadata={"filename": path.name, "filetype": "video/mp4"},
        store_url=True,
        url_storage=storage,
        retries=5,
        retry_delay=2,
    )
    size = uploader.get_file_size()
    with tqdm(total=size, initial=uploader.offset, unit="B", unit_scale=True, desc="upload") as bar:
        while uploader.offset < size:
            before = uploader.offset
            uploader.upload_chunk()
            bar.update(uploader.offset - before)
    upload_url = str(uploader.url)
    with httpx.Client(timeout=30, headers=headers) as http:  # the asset API needs the key too
        asset_id = find_asset_id(http, upload_url, headers)
        if asset_id is None:
            print(f"uploaded to {upload_url}, but the server named no asset for it", file=sys.stderr)
            return 1
        print(f"asset {asset_id}: {api}/assets/{asset_id}")
        if not wait:
            return 0
        return follow(http, f"{api}/assets/{asset_id}")


def follow(http: httpx.Client, asset_url: str) -> int:
    bar = tqdm(total=100, unit="%", desc="transcode", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")
    announced = False
    try:
        while True:
            asset = http.get(asset_url).raise_for_status().json()
            if asset["state"] == "processing" and asset["playback"].get("hls") and not announced:
                # Progressive publish: the lowest rung plays before the ladder is done.
                bar.write(f"playable while encoding: {asset['playback']['hls']}")
                announced = True
            bar.n = round(100 * float(asset.get("progress") or 0), 1)
            speed, eta = asset.get("speed"), asset.get("eta_seconds")
            bar.set_postfix_str(
                f"{asset['state']}" + (f" {speed:.2f}x" if speed else "") + (f" eta {eta:.0f}s" if eta else "")
            )
            bar.refresh()
            if asset["state"] == "ready":
                bar.n = 100
                bar.close()
                print(f"ready: {asset['playback']['hls']}")
                if asset["playback"].get("dash"):
                    print(f"dash:  {asset['playback']['dash']}")
                return 0
            if asset["state"] in ("failed", "deleted"):
                bar.close()
                print(f"{asset['state']}: {asset.get('error') or 'no reason given'}", file=sys.stderr)
                return 1
            time.sleep(POLL_SECONDS)
    finally:
        bar.close()
