"""A Prometheus configuration for the embedded stack, from the services.json `vodstack up` writes.

The compose deployment has a static file (infra/prometheus/prometheus.yml); the embedded stack's
ports are chosen at start, so its configuration is rendered from services.json. JSON is valid
YAML, so no YAML library is needed.

    python -m observability.scrape ~/.vodstack/services.json > prometheus-local.yml

A service whose /metrics requires a bearer token (VODSTACK_INGEST_METRICS_TOKEN,
VODSTACK_ORIGIN_METRICS_TOKEN, VODSTACK_EDGE_METRICS_TOKEN for the shield and edges,
VODSTACK_TRANSCODER_METRICS_TOKEN for the workers) is scraped with the token read from a file:
`--metrics-token-file FILE` for every job, `--token-file JOB=FILE` for one job (ingest, origin,
shield, edge, transcoder; it wins over the shared file), `--ingest-token-file FILE` as before.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RULES_DIR = Path(__file__).resolve().parent.parent / "infra" / "prometheus" / "rules"
# Tier (Prometheus job) of each HTTP service named in services.json.
SERVICE_JOBS = ("ingest", "origin", "shield", "edge")
JOBS = (*SERVICE_JOBS, "transcoder")


def _target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"not a host:port URL: {url!r}")
    return f"{parts.hostname}:{parts.port}", parts.path or "/metrics"


def scrape_config(
    services: dict[str, Any],
    *,
    interval: str = "15s",
    rules_dir: Path | None = RULES_DIR,
    ingest_token_file: Path | None = None,
    token_file: Path | None = None,
    token_files: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """The whole Prometheus configuration as a dict: one job per tier, workers included.

    `token_file` holds the bearer token every job sends; `token_files` (job name: file) one job's,
    in place of the shared one; `ingest_token_file` is `token_files={"ingest": ...}`.
    """
    per_job = dict(token_files or {})
    unknown = set(per_job) - set(JOBS)
    if unknown:
        raise ValueError(f"no such job: {', '.join(sorted(unknown))} (jobs: {', '.join(JOBS)})")
    if ingest_token_file is not None:
        per_job.setdefault("ingest", ingest_token_file)
    jobs: list[dict[str, Any]] = []
    for job in SERVICE_JOBS:
        if job in services:
            target, _ = _target(services[job])
            jobs.append({"job_name": job, "static_configs": [{"targets": [target]}]})
    workers = [_target(url) for url in dict(services.get("worker_metrics", {})).values()]
    if workers:
        jobs.append(
            {
                "job_name": "transcoder",
                "metrics_path": workers[0][1],
                "static_configs": [{"targets": sorted(t for t, _ in workers)}],
            }
        )
    for scrape in jobs:
        credentials = per_job.get(scrape["job_name"], token_file)
        if credentials is not None:
            # Prometheus reads the file at each scrape: the token never sits in this config.
            scrape["authorization"] = {"type": "Bearer", "credentials_file": str(credentials)}
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    }
    if rules_dir is not None:
        config["rule_files"] = [str(rules_dir / "*.yml")]
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m observability.scrape", description=__doc__)
    parser.add_argument("services", type=Path, help="services.json of a running `vodstack up`")
    parser.add_argument("--interval", default="15s", help="scrape and rule evaluation interval")
    parser.add_argument(
        "--rules-dir",
        type=Path,
        default=RULES_DIR,
        help="alert rules (default: infra/prometheus/rules of the checkout)",
    )
    parser.add_argument(
        "--ingest-token-file",
        type=Path,
        help="file holding the ingest service's VODSTACK_INGEST_METRICS_TOKEN, if it sets one",
    )
    parser.add_argument(
        "--metrics-token-file",
        type=Path,
        help="file holding the bearer token every job sends (the services' *_METRICS_TOKEN)",
    )
    parser.add_argument(
        "--token-file",
        action="append",
        default=[],
        metavar="JOB=FILE",
        help=f"file holding one job's token, in place of --metrics-token-file (jobs: {', '.join(JOBS)})",
    )
    args = parser.parse_args(argv)
    per_job: dict[str, Path] = {}
    for item in args.token_file:
        job, sep, path = item.partition("=")
        if not sep or not path or job not in JOBS:
            parser.error(f"--token-file {item!r}: expected JOB=FILE with JOB one of {', '.join(JOBS)}")
        per_job[job] = Path(path).resolve()
    config = scrape_config(
        json.loads(args.services.read_text()),
        interval=args.interval,
        rules_dir=args.rules_dir,
        ingest_token_file=args.ingest_token_file.resolve() if args.ingest_token_file else None,
        token_file=args.metrics_token_file.resolve() if args.metrics_token_file else None,
        token_files=per_job,
    )
    sys.stdout.write(json.dumps(config, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
