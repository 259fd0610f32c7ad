"""`vodstack assets list|show|delete|import|clip-url`: the asset API from the command line.

Every command goes through the ingest API with httpx (like `vodstack webhooks`), so it works against
a remote deployment too; refusals print as one line on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from vodstack.api_client import add_target_options, api_target, error_line


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the `assets` command to the `vodstack` parser's subcommands (`parents`: the global options)."""
    assets = sub.add_parser("assets", help="list, show, delete and import assets (ingest API)", parents=parents)
    add_target_options(assets)
    cmds = assets.add_subparsers(dest="assets_command", required=True)
    listing = cmds.add_parser("list", help="the key's assets, newest first: id, state, created, title", parents=parents)
    listing.add_argument("--state", help="only assets in this state (ready, failed, processing, ...)")
    listing.add_argument("--created-after", help="ISO 8601 time, e.g. 2026-01-01T00:00:00Z")
    listing.add_argument("--created-before", help="ISO 8601 time")
    listing.add_argument("--owner", help="admin keys: one owner's assets")
    listing.add_argument("--search", help="only assets whose title or description contains this text (any case)")
    listing.add_argument("--limit", type=int, default=50, help="per page (the API's bound: 1..500)")
    listing.add_argument("--all", action="store_true", help="follow every page, not only the first")
    show = cmds.add_parser("show", help="one asset as JSON (state, renditions, playback URLs)", parents=parents)
    show.add_argument("asset")
    delete = cmds.add_parser("delete", help="delete an asset: its media, and every edge's copy", parents=parents)
    delete.add_argument("asset")
    imp = cmds.add_parser(
        "import", help="import a video from an http(s) URL; prints the new asset's id", parents=parents
    )
    imp.add_argument("url")
    imp.add_argument("--title")
    imp.add_argument("--wait", action="store_true", help="follow the import and transcode to the end")
    clip = cmds.add_parser("clip-url", help="the playback URL of a range of an asset (?start=&end=)", parents=parents)
    clip.add_argument("asset")
    clip.add_argument("--start", type=float, required=True, help="seconds from the start")
    clip.add_argument("--end", type=float, required=True, help="seconds from the start, after --start")
    clip.add_argument("--dash", action="store_true", help="the DASH manifest's URL instead of HLS")
    assets.set_defaults(func=run)


class Refused(Exception):
    """What the API (or the command's own checks) refused, as one line."""


def clip_url(playback_url: str, start: float, end: float) -> str:
    """`playback_url` with start and end added (its other parameters, e.g. a token, kept). Pure."""
    if not (0 <= start < end):
        raise Refused(f"the range must satisfy 0 <= start < end (got start={start:g}, end={end:g})")
    return str(httpx.URL(playback_url).copy_merge_params({"start": f"{start:g}", "end": f"{end:g}"}))


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise Refused(error_line(response))
    return response


def _list(http: httpx.Client, args: argparse.Namespace) -> None:
    params = {"limit": str(args.limit)}
    for name in ("state", "created_after", "created_before", "owner"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    if args.search:
        params["q"] = args.search
    url: str | None = "/assets"
    query: dict[str, str] | None = params
    while url is not None:
        response = _checked(http.get(url, params=query))
        for a in response.json():
            print(f"{a['id']}  {a['state']:<10}  {a['created_at']}  {a['title'] or ''}")
        url = response.links.get("next", {}).get("url") if args.all else None
        query = None  # the next link carries every parameter


def _run(http: httpx.Client, args: argparse.Namespace, api: str) -> None:
    command = args.assets_command
    if command == "list":
        _list(http, args)
    elif command == "show":
        print(json.dumps(_checked(http.get(f"/assets/{args.asset}")).json(), indent=2))
    elif command == "delete":
        _checked(http.delete(f"/assets/{args.asset}"))
        print(f"deleted {args.asset}")
    elif command == "import":
        body = {"source_url": args.url, **({"title": args.title} if args.title else {})}
        made = _checked(http.post("/assets", json=body)).json()
        print(f"asset {made['id']}: {api}/assets/{made['id']}")
        if args.wait:
            from vodstack.upload import follow

            if follow(http, f"{api}/assets/{made['id']}") != 0:
                raise Refused(f"asset {made['id']} did not become ready")
    else:
        asset = _checked(http.get(f"/assets/{args.asset}")).json()
        url = asset["playback"]["dash" if args.dash else "hls"]
        if not url:
            raise Refused(f"asset {args.asset} has no playback URL yet (state {asset['state']})")
        print(clip_url(url, args.start, args.end))


def run(args: argparse.Namespace) -> int:
    api, token = api_target(args)
    try:
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            _run(http, args, api)
    except Refused as exc:
        print(f"vodstack assets: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"vodstack assets: cannot reach {api}: {exc}", file=sys.stderr)
        return 1
    return 0
