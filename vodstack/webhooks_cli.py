"""`vodstack webhooks add|list|deliveries|remove`: the webhook API from the command line.

Talks to the ingest API like any client (the base URL and key default to the running stack's
services.json and its development token), so it works against a remote deployment too.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from vodstack.api_client import add_target_options, api_target, error_line


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the `webhooks` command to the `vodstack` parser's subcommands (`parents`: the global options)."""
    hooks = sub.add_parser(
        "webhooks", help="register webhook endpoints and list their deliveries (ingest API)", parents=parents
    )
    add_target_options(hooks)
    cmds = hooks.add_subparsers(dest="webhooks_command", required=True)
    add = cmds.add_parser("add", help="register an endpoint; prints its signing secret (once)", parents=parents)
    add.add_argument("url")
    add.add_argument("--events", default="", help="comma-separated event types (default: all)")
    add.add_argument("--description")
    cmds.add_parser("list", help="the key's endpoints: id, URL, event types", parents=parents)
    deliveries = cmds.add_parser(
        "deliveries", help="an endpoint's deliveries: attempts, status codes, errors", parents=parents
    )
    deliveries.add_argument("endpoint")
    remove = cmds.add_parser("remove", help="delete an endpoint and its pending deliveries", parents=parents)
    remove.add_argument("endpoint")
    hooks.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    api, token = api_target(args)
    command = args.webhooks_command
    try:
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            if command == "add":
                body: dict[str, Any] = {"url": args.url, "event_types": [e for e in args.events.split(",") if e]}
                if args.description:
                    body["description"] = args.description
                response = http.post("/webhooks", json=body)
            elif command == "list":
                response = http.get("/webhooks")
            elif command == "deliveries":
                response = http.get(f"/webhooks/{args.endpoint}/deliveries")
            else:
                response = http.delete(f"/webhooks/{args.endpoint}")
    except httpx.HTTPError as exc:
        print(f"vodstack webhooks: cannot reach {api}: {exc}", file=sys.stderr)
        return 1
    if response.status_code >= 400:
        print(f"vodstack webhooks: {error_line(response)}", file=sys.stderr)
        return 1
    _print(command, response)
    return 0


def _print(command: str, response: httpx.Response) -> None:
    if command == "add":
        made = response.json()
        print(f"{made['id']}  {made['url']}  {','.join(made['event_types'])}")
        print(f"secret (shown once; verify webhook-signature with it): {made['secret']}")
    elif command == "list":
        for endpoint in response.json():
            print(f"{endpoint['id']}  {endpoint['url']}  {','.join(endpoint['event_types'])}")
    elif command == "deliveries":
        for d in response.json():
            status = d["last_status"] if d["last_status"] is not None else "-"
            error = f"  {d['last_error']}" if d["last_error"] else ""
            print(
                f"{d['created_at']}  {d['message_id']}  {d['event_type']}  {d['state']}  "
                f"attempts={d['attempts']}  last={status}{error}"
            )
    else:
        print("removed")
