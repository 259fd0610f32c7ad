"""What the API commands (`vodstack assets`, `vodstack webhooks`) share: which ingest API and key to
use (the running stack's services.json and development token unless told), and one-line errors."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import httpx


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="ingest base URL (default: from services.json of `vodstack up`)")
    parser.add_argument("--token", help="API key (default: $VODSTACK_API_KEY, else the development token)")


def api_target(args: argparse.Namespace) -> tuple[str, str]:
    """(base URL, key) from the options, else the running stack's services.json, else the defaults."""
    from storage.settings import data_dir
    from vodstack.supervisor import SERVICES_FILE

    data = Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else data_dir()
    services = data / SERVICES_FILE
    info: dict[str, Any] = json.loads(services.read_text()) if services.exists() else {}
    api = str(args.api or info.get("ingest") or "http://127.0.0.1:8700").rstrip("/")
    token = args.token or os.environ.get("VODSTACK_API_KEY") or info.get("token")
    if not token:
        from ingest.settings import IngestSettings, dev_token

        token = dev_token(IngestSettings())
    return api, str(token)


def error_line(response: httpx.Response) -> str:
    """The API's refusal as one line: status and its message (FastAPI's 422 details joined)."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text.strip()[:300]}"
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        parts = [f"{'.'.join(str(x) for x in d.get('loc', [])[1:])}: {d.get('msg')}" for d in body["detail"]]
        return f"{response.status_code} {'; '.join(parts)}"
    message = body.get("message") or body.get("detail") if isinstance(body, dict) else None
    return f"{response.status_code} {message or response.text.strip()[:300]}"
