"""`vodstack upload FILE`: a resumable TUS upload with a progress bar, then the job followed to the end.

Failures a creator can fix (no stack running, a stack that stopped, a refused key) end in one line
that says what to do, with a non-zero exit code; never a traceback."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from tqdm import tqdm
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from tusclient.storage.filestorage import FileStorage

from vodstack.progress_text import EtaEstimator, transcode_status
from vodstack.supervisor import SERVICES_FILE, data_dir_option

CHUNK_SIZE = 8 * 1024 * 1024
POLL_SECONDS = 1.0


class UploadError(Exception):
    """A failure explained in one line, with its fix."""


def _stack_info(data_dir: Path) -> dict[str, str]:
    path = data_dir / SERVICES_FILE
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UploadError(f"{path} is unreadable ({exc}): restart the stack with `vodstack up`") from None
    return dict(info) if isinstance(info, dict) else {}


def find_asset_id(http: httpx.Client, upload_url: str, headers: dict[str, str]) -> str | None:
    """The asset created for an upload: the ingest API names it in the upload's HEAD response."""
    resp = http.head(upload_url, headers={**headers, "Tus-Resumable": "1.0.0"})
    _raise_for_auth(resp.status_code, upload_url)
    return resp.headers.get("Vodstack-Asset-Id")


def _raise_for_auth(status: int | None, url: str) -> None:
    if status == 401:
        raise UploadError(
            f"{url} refused the key (401): pass --token with a key from `vodstack keys create --scope upload`, "
            "or --data-dir of the running stack to use its development token"
        )
    if status == 403:
        raise UploadError(f"{url} refused the key (403): it lacks the upload scope; create one with --scope upload")


def upload_and_follow(path: Path, data_dir: Path, *, api: str | None, token: str | None, wait: bool) -> int:
    try:
        return _upload_and_follow(path, data_dir, api=api, token=token, wait=wait)
    except UploadError as exc:
        print(f"vodstack upload: {exc}", file=sys.stderr)
        return 1


def _upload_and_follow(path: Path, data_dir: Path, *, api: str | None, token: str | None, wait: bool) -> int:
    if not path.is_file():
        print(f"vodstack upload: no such file: {path}", file=sys.stderr)
        return 2
    info = _stack_info(data_dir)
    if not api and not info:
        raise UploadError(
            f"no running stack in {data_dir} (no {SERVICES_FILE}): start one with `vodstack up`, "
            "or pass the --data-dir it was started with, or --api URL --token KEY"
        )
    api = (api or info["ingest"]).rstrip("/")
    token = token or info.get("token")
    if not token:
        from ingest.settings import IngestSettings, dev_token

        token = dev_token(IngestSettings())
    headers = {"Authorization": f"Bearer {token}"}
    option = data_dir_option(data_dir)
    unreachable = (
        f"cannot reach the ingest API at {api}: is the stack running? "
        f"Check with `vodstack{option} status`, start it with `vodstack{option} up`"
    )
    try:
        upload_url = _upload(path, data_dir, api, headers)
        with httpx.Client(timeout=30, headers=headers) as http:  # the asset API needs the key too
            asset_id = find_asset_id(http, upload_url, headers)
            if asset_id is None:
                raise UploadError(f"uploaded to {upload_url}, but the server named no asset for it")
            print(f"asset {asset_id}: {api}/assets/{asset_id}")
            if not wait:
                return 0
            return follow(http, f"{api}/assets/{asset_id}")
    except TusCommunicationError as exc:
        _raise_for_auth(exc.status_code, f"{api}/files/")
        if exc.status_code is None:  # requests' connection error, wrapped by tuspy
            raise UploadError(unreachable) from None
        detail = (exc.response_content or b"").decode("utf-8", "replace").strip()[:200]
        raise UploadError(f"the ingest API refused the upload ({exc.status_code}): {detail}") from None
    except httpx.TransportError:
        raise UploadError(unreachable) from None
    except httpx.HTTPStatusError as exc:
        _raise_for_auth(exc.response.status_code, str(exc.request.url))
        raise UploadError(f"{exc.request.url} answered {exc.response.status_code}: {exc.response.text[:200]}") from None


def _upload(path: Path, data_dir: Path, api: str, headers: dict[str, str]) -> str:
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
    if not uploader.url:
        # Created before the bar is drawn: a refused key or a stopped stack is then one line, no bar.
        uploader.set_url(uploader.create_url())
    size = uploader.get_file_size()
    with tqdm(total=size, initial=uploader.offset, unit="B", unit_scale=True, desc="upload") as bar:
        while uploader.offset < size:
            before = uploader.offset
            uploader.upload_chunk()
            bar.update(uploader.offset - before)
    return str(uploader.url)


def follow(
    http: httpx.Client, asset_url: str, *, clock: Callable[[], float] = time.monotonic, poll: float = POLL_SECONDS
) -> int:
    # "{desc}" holds the status text: tqdm's "{postfix}" would prefix it with ", ".
    bar = tqdm(total=100, unit="%", desc="", bar_format="transcode {n:3.0f}%|{bar}| {desc}")
    announced = False
    eta = EtaEstimator()
    try:
        while True:
            asset = http.get(asset_url).raise_for_status().json()
            if asset["state"] == "processing" and asset["playback"].get("hls") and not announced:
                # Progressive publish: the lowest rung plays before the ladder is done.
                bar.write(f"playable while encoding: {asset['playback']['hls']}")
                announced = True
            progress = float(asset.get("progress") or 0)
            bar.n = round(100 * progress, 1)
            left = eta.observe(clock(), progress) if asset["state"] == "processing" else None
            bar.set_description_str(transcode_status(asset["state"], asset.get("speed"), left), refresh=False)
            bar.refresh()
            if asset["state"] == "ready":
                bar.n = 100
                bar.set_description_str("ready")
                bar.close()
                print(f"ready: {asset['playback']['hls']}")
                if asset["playback"].get("dash"):
                    print(f"dash:  {asset['playback']['dash']}")
                return 0
            if asset["state"] in ("failed", "deleted"):
                bar.close()
                print(f"{asset['state']}: {asset.get('error') or 'no reason given'}", file=sys.stderr)
                return 1
            time.sleep(poll)
    finally:
        bar.close()
