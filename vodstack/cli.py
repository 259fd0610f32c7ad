"""The `vodstack` command: up, serve, worker, upload, status, keys, webhooks, assets."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from vodstack import assets_cli, webhooks_cli

DEFAULT_PORTS = {"ingest": 8700, "origin": 8701, "shield": 8702, "edge": 8703}


def _data_dir(arg: str | None) -> Path:
    if arg:
        os.environ["VODSTACK_DATA_DIR"] = str(Path(arg).expanduser().resolve())
    from storage.settings import data_dir

    return data_dir()


def cmd_up(args: argparse.Namespace) -> int:
    from vodstack.supervisor import StackPlan, Supervisor, data_dir_option

    data = _data_dir(args.data_dir)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys, the catalog, the upload token
    ports = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
    supervisor = Supervisor(StackPlan(data, args.host, ports, workers=args.workers))

    def _stop(signum: int, _frame: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        supervisor.start()
        if supervisor.stopping:  # Ctrl-C while starting
            return 0
        info = json.loads(supervisor.services_file.read_text())
        _say(
            "vodstack is up",
            f"  upload (TUS)  {info['tus']}",
            f"  assets API    {info['ingest']}/assets",
            f"  web page      {info['ingest']}/",
            f"  origin        {info['origin']}",
            f"  shield        {info['shield']}",
            f"  edge          {info['edge']}   <- players fetch from here",
            f"  workers       {', '.join(info['workers'])}",
            f"  dev token     {info['token']}   (an admin key: sign in to the web page with it)",
            f"  data          {data}   (services.json, logs/)",
            f"  try:          vodstack upload{data_dir_option(data)} my-video.mp4      Ctrl-C stops everything",
        )
        supervisor.watch()
        _say("vodstack: stopping")
    except RuntimeError as exc:
        _say(f"vodstack: {exc}", err=True)
        return 1
    finally:
        # Whatever happened above (a closed stdout too: `vodstack up | tee` after Ctrl-C), nothing
        # may keep running: children have their own sessions, the terminal's Ctrl-C reaches only us.
        supervisor.stop()
    return 0


def _log_audit() -> None:
    """Send the audit log (admin actions with the key's name) to stderr: the service's log file."""
    audit = logging.getLogger("vodstack.audit")
    if not audit.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        audit.addHandler(handler)
        audit.setLevel(logging.INFO)
        audit.propagate = False


def _say(*lines: str, err: bool = False) -> None:
    """Print, unless the terminal or pipe is gone: stopping the stack must not depend on it."""
    try:
        print("\n".join(lines), file=sys.stderr if err else sys.stdout, flush=True)
    except OSError:
        pass


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    _data_dir(args.data_dir)
    _log_audit()
    options: dict[str, Any] = {}
    if args.service == "ingest":
        from ingest.app import create_app as create_ingest
        from ingest.settings import IngestSettings
        from web.app import create_web_app
        from web.settings import WebSettings

        app = create_ingest(IngestSettings())
        # The web page at "/": mounted last, so every API route matches first; same origin as the API.
        # It carries no key: the operator signs in with one (the dev token `vodstack up` prints works).
        app.mount("/", create_web_app(WebSettings()))
    elif args.service == "origin":
        from origin.app import create_app as create_origin
        from origin.settings import OriginSettings

        app = create_origin(OriginSettings())
    else:
        from cdn_edge.app import create_app as create_edge
        from cdn_edge.app import server_options
        from cdn_edge.settings import EdgeSettings

        app = create_edge(EdgeSettings())
        options = server_options(app)  # fresh memory hits answered by the HTTP protocol
    # proxy_headers off: uvicorn would take X-Forwarded-For from any local peer as the client address;
    # each service reads it itself, from its trusted_proxies only (traffic/clients.py).
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, proxy_headers=False,
        **options,
    )  # fmt: skip
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from jobs.celery_app import LIGHT_QUEUE, TRANSCODE_QUEUE
    from transcoder.settings import TranscoderSettings
    from transcoder.worker.tasks import create_worker_app

    data = _data_dir(args.data_dir)
    settings = TranscoderSettings()
    app = create_worker_app(settings)
    if args.metrics_port is not None:
        from catalog.session import Catalog
        from transcoder.worker.exporter import install_worker_exporter

        install_worker_exporter(
            app,
            Catalog(settings.catalog),
            port=args.metrics_port,
            host=args.metrics_host,
            directory=data / "metrics" / args.name,
            queues=[TRANSCODE_QUEUE, LIGHT_QUEUE],
            scratch_dir=settings.work_dir,
            token=settings.metrics_token,
        )
    from tiering.lifecycle import register_beat
    from tiering.settings import TieringSettings

    tiering = TieringSettings()
    if tiering.enabled:
        # The lifecycle job (hot -> warm -> cold) runs on the beat schedule of the --beat worker.
        register_beat(app, tiering, settings.catalog)
    argv = [
        "worker",
        "-Q",
        f"{TRANSCODE_QUEUE},{LIGHT_QUEUE}",
        "-c",
        str(args.concurrency),
        "-n",
        f"{args.name}@%h",
        "--loglevel",
        args.log_level.upper(),
        "--without-gossip",
        "--without-mingle",
    ]
    if args.beat:
        # Embedded beat: exactly one worker of a deployment runs the periodic jobs.
        argv += ["--beat", "--schedule", str(data / "celerybeat-schedule")]
    app.worker_main(argv=argv)
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from vodstack.upload import upload_and_follow

    data = _data_dir(args.data_dir)
    return upload_and_follow(Path(args.file), data, api=args.api, token=args.token, wait=not args.no_wait)


def cmd_status(args: argparse.Namespace) -> int:
    """Print services.json of the running stack; "not running" (exit 1) when there is no stack,
    when the process that wrote the file is gone (the file is removed), or when a service does
    not answer its health check."""
    from transcoder.worker.exporter import pid_alive
    from vodstack.supervisor import SERVICES_FILE, services_health, workers_health

    path = _data_dir(args.data_dir) / SERVICES_FILE
    try:
        text = path.read_text()
        info = json.loads(text)
    except FileNotFoundError:
        print(f"vodstack is not running (no {path})", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"vodstack is not running ({path} is unreadable: {exc})", file=sys.stderr)
        return 1
    pid = info.get("pid") if isinstance(info, dict) else None
    if not isinstance(pid, int) or not pid_alive(pid):
        path.unlink(missing_ok=True)  # left by a stack that died: it would mislead `vodstack upload`
        print(f"vodstack is not running (its process {pid} is gone; removed the stale {path})", file=sys.stderr)
        return 1
    health = services_health(info)
    width = max((len(name) for name, _, _ in health), default=0)
    lines = [f"  {name:<{width}}  {url:<28} {'up' if ok else 'DOWN (no answer)'}" for name, url, ok in health]
    down = [name for name, _, ok in health if not ok]
    if down:
        print(f"vodstack is not running properly: no answer from {', '.join(down)}", *lines, sep="\n", file=sys.stderr)
        return 1
    if args.json:
        print(text)  # for scripts: services.json as `vodstack up` wrote it, once every service answered
        return 0
    # Workers are restarted by `vodstack up` when they die: shown, not part of the exit status.
    workers = [
        f"  {name:<{width}}  {url:<28} {'up' if ok else 'DOWN (restarting?)'}" for name, url, ok in workers_health(info)
    ]
    print(f"vodstack is running (pid {pid}, data {info.get('data_dir', path.parent)})", *lines, *workers, sep="\n")
    print(f"  players fetch from {info.get('edge')}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from catalog.keys import KeyRefused, create_key, list_keys, parse_scopes, revoke_key
    from catalog.session import Catalog
    from catalog.settings import CatalogSettings

    _data_dir(args.data_dir)
    _log_audit()
    audit = logging.getLogger("vodstack.audit")
    operator = f"cli:{getpass.getuser()}"
    catalog = Catalog(CatalogSettings())
    try:
        if args.keys_command == "create":
            record, key = create_key(catalog, args.name, parse_scopes(args.scope), args.owner or args.name)
            audit.info(
                "create key %r (id %s) of %s with scopes %s by %s",
                record.name,
                record.id,
                record.owner,
                ",".join(sorted(record.scopes)),
                operator,
            )
            print(f"key {record.name} (id {record.id}, owner {record.owner}, scopes {','.join(sorted(record.scopes))})")
            print("It is shown only this once; keep it secret:")
            print(key, flush=True)
        elif args.keys_command == "list":
            print(f"{'name':<24} {'id':<32} {'owner':<16} {'scopes':<18} {'created':<20} revoked")
            for rec in list_keys(catalog):
                created = rec.created_at.strftime("%Y-%m-%d %H:%M:%S")
                revoked = rec.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if rec.revoked_at else "-"
                scopes = ",".join(sorted(rec.scopes))
                print(f"{rec.name:<24} {rec.id:<32} {rec.owner:<16} {scopes:<18} {created:<20} {revoked}")
        else:
            record = revoke_key(catalog, args.key)
            audit.info("revoke key %r (id %s) of %s by %s", record.name, record.id, record.owner, operator)
            print(f"revoked key {record.name} (id {record.id})")
    except KeyRefused as exc:
        print(f"vodstack keys: {exc}", file=sys.stderr)
        return 2
    finally:
        catalog.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vodstack", description=__doc__)
    parser.add_argument("--data-dir", help="data directory (default $VODSTACK_DATA_DIR or ~/.vodstack)")
    # The global options again on every subcommand, so they may follow it too (`vodstack up --data-dir X`);
    # SUPPRESS: a subcommand without them keeps the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help="data directory (also before the command)")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole stack on this machine", parents=[common])
    up.add_argument("--host", default="127.0.0.1")
    for name, port in DEFAULT_PORTS.items():
        up.add_argument(f"--{name}-port", type=int, default=port)
    up.add_argument("--workers", type=int, default=1, help="transcoder worker processes")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run one HTTP service in the foreground (settings from env)", parents=[common])
    serve.add_argument("service", choices=["ingest", "origin", "edge"])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--log-level", default="warning")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a transcoder worker (settings from env)", parents=[common])
    worker.add_argument("--name", default="worker")
    worker.add_argument("--beat", action="store_true", help="also run the periodic jobs (one worker per deployment)")
    worker.add_argument("--concurrency", type=int, default=1)
    worker.add_argument("--log-level", default="info")
    worker.add_argument("--metrics-port", type=int, help="serve Prometheus metrics of this worker node here")
    worker.add_argument("--metrics-host", default="0.0.0.0")
    worker.set_defaults(func=cmd_worker)

    upload = sub.add_parser(
        "upload", help="upload a video, follow its transcode, print the playback URL", parents=[common]
    )
    upload.add_argument("file")
    upload.add_argument("--api", help="ingest base URL (default: from services.json of `vodstack up`)")
    upload.add_argument("--token", help="upload token (default: the development token)")
    upload.add_argument("--no-wait", action="store_true", help="return once the upload is complete")
    upload.set_defaults(func=cmd_upload)

    status = sub.add_parser(
        "status", help="print where the running stack listens; exit 1 when it is not running", parents=[common]
    )
    status.add_argument("--json", action="store_true", help="print services.json (for scripts) instead of the table")
    status.set_defaults(func=cmd_status)

    keys = sub.add_parser(
        "keys", help="create, list and revoke API keys (in the catalog of VODSTACK_CATALOG_URL)", parents=[common]
    )
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser(
        "create", help="create a key and print it (once: only its hash is kept)", parents=[common]
    )
    create.add_argument("--name", required=True, help="a unique name, shown in the audit log")
    create.add_argument("--scope", required=True, help="comma-separated: upload, read, admin")
    create.add_argument("--owner", help="whose uploads and assets the key acts on (default: the key's name)")
    keys_sub.add_parser("list", help="every key: name, id, owner, scopes, created, revoked", parents=[common])
    revoke = keys_sub.add_parser("revoke", help="revoke a key at once", parents=[common])
    revoke.add_argument("key", help="the key's name or id")
    keys.set_defaults(func=cmd_keys)
    webhooks_cli.add_parser(sub, [common])
    assets_cli.add_parser(sub, [common])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
