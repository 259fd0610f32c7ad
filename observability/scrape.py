"""A Prometheus configuration for the embedded stack, from the services.json `vodstack up` writes.

The compose deployment has a static file (infra/prometheus/prometheus.yml); the embedded stack's
ports are chosen at start, so its configuration is rendered from services.json. JSON is valid
YAML, so no YAML library is needed.

    python -m observability.scrape ~/.vodstack/services.json > prometheus-local.yml

With VODSTACK_INGEST_METRICS_TOKEN set on the ingest service, pass the file holding that token
(`--ingest-token-file`): the ingest job then sends it as a bearer token.
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
) -> dict[str, Any]:
    """The whole Prometheus configuration as a dict: one job per tier, workers included."""
    jobs: list[dict[str, Any]] = []
    for job in SERVICE_JOBS:
        if job in services:
            target, _ = _target(services[job])
            jobs.append({"job_name": job, "static_configs": [{"targets": [target]}]})
            if job == "ingest" and ingest_token_file is not None:
                # Prometheus reads the file at each scrape: the token never sits in this config.
                jobs[-1]["authorization"] = {"type": "Bearer", "credentials_file": str(ingest_token_file)}
    workers = [_target(url) for url in dict(services.get("worker_metrics", {})).values()]
    if workers:
        jobs.append(
            {
                "job_name": "transcoder",
                "metrics_path": workers[0][1],
                "static_configs": [{"targets": sorted(t for t, _ in workers)}],
            }
        )
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
    args = parser.parse_args(argv)
    config = scrape_config(
        json.loads(args.services.read_text()),
        interval=args.interval,
        rules_dir=args.rules_dir,
        ingest_token_file=args.ingest_token_file.resolve() if args.ingest_token_file else None,
    )
    sys.stdout.write(json.dumps(config, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
