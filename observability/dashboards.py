"""The Grafana dashboards, as code: panels are (title, PromQL queries, unit), built to JSON.

Written as data so that every query lives in one place: the JSON under infra/grafana/dashboards/
is rendered from here through grafana-foundation-sdk (observability/grafana.py;
`python -m observability.dashboards infra/grafana/dashboards`, checked by a test), and the
real-Prometheus test evaluates each query against a stack that did some work.

Conventions: `job` is the tier (ingest, origin, shield, edge, transcoder); edges and the shield
label every series with `node`. Values the transcoder exporter collects from the broker or
catalog are the same on every worker: max(). PromQL conventions: observability/promql.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from observability.grafana import Dashboard, Panel, Variable, build_dashboard, panel_queries
from observability.promql import evaluable, per_node_ratio, q, quantiles
from observability.viewer import VIEWER

EDGE_REQ = "rate(vodstack_edge_requests_total[5m])"
EDGE_HITS = 'rate(vodstack_edge_requests_total{cache_status=~"hit|stale"}[5m])'
EDGE_5XX = 'rate(vodstack_edge_requests_total{code="5xx"}[5m])'
EDGE_BYTES = "rate(vodstack_edge_served_bytes_total[5m])"
EDGE_HIT_BYTES = 'rate(vodstack_edge_served_bytes_total{cache_status=~"hit|stale"}[5m])'
EDGE_UPSTREAM_BYTES = "rate(vodstack_edge_upstream_received_bytes_total[5m])"
# What reached the origin, measured by the caches: the shield's upstream, or the edges' where there
# is no shield (its series exist from start, at 0, so `or` falls back only when it is not deployed).
ORIGIN_BYTES = (
    'sum(rate(vodstack_edge_upstream_received_bytes_total{job="shield"}[5m]))'
    ' or sum(rate(vodstack_edge_upstream_received_bytes_total{job="edge"}[5m]))'
)
PLAYER_BYTES = 'rate(vodstack_edge_served_bytes_total{job="edge"}[5m])'
PLAYER_REQ = 'rate(vodstack_edge_requests_total{job="edge"}[5m])'
ORIGIN_FETCHES = (
    'sum(rate(vodstack_edge_upstream_fetches_total{job="shield"}[5m]))'
    ' or sum(rate(vodstack_edge_upstream_fetches_total{job="edge"}[5m]))'
)
INGEST_REQ = "rate(vodstack_ingest_requests_total[5m])"
INGEST_OK = 'rate(vodstack_ingest_requests_total{status!~"5.."}[5m])'

OVERVIEW = Dashboard(
    "vodstack-overview",
    "vodstack: overview",
    (
        Panel(
            "Uploads finished per minute",
            (q('sum(rate(vodstack_ingest_uploads_total{event="finished"}[5m])) * 60', "uploads"),),
        ),
        Panel("Upload bytes stored", (q("sum(rate(vodstack_ingest_received_bytes_total[5m]))", "received"),), "Bps"),
        Panel(
            "Transcode jobs finished per minute, by outcome",
            (q("sum by (outcome) (rate(vodstack_transcoder_jobs_finished_total[5m])) * 60", "{{outcome}}"),),
        ),
        Panel("Transcode jobs running", (q("sum(vodstack_transcoder_jobs_running)", "running"),), kind="stat"),
        Panel("Playback requests per second, by tier", (q(f"sum by (job) ({EDGE_REQ})", "{{job}}"),), "reqps"),
        Panel(
            "Egress to players",
            (q('sum(rate(vodstack_edge_served_bytes_total{job="edge"}[5m]))', "edge egress"),),
            "Bps",
        ),
        Panel(
            "Error ratio",
            (
                q(f"1 - sum({INGEST_OK}) / sum({INGEST_REQ})", "ingest 5xx"),
                q(f"sum by (job) ({EDGE_5XX}) / sum by (job) ({EDGE_REQ})", "{{job}} 5xx"),
            ),
            "percentunit",
        ),
        Panel("Targets up", (q("sum by (job) (up)", "{{job}}"),), kind="stat"),
    ),
)

INGEST = Dashboard(
    "vodstack-ingest",
    "vodstack: ingest",
    (
        Panel(
            "Requests per second, by method and status",
            (q(f"sum by (method, status) ({INGEST_REQ})", "{{method}} {{status}}"),),
            "reqps",
        ),
        Panel(
            "5xx ratio",
            (q(f"1 - sum({INGEST_OK}) / sum({INGEST_REQ})", "5xx"),),
            "percentunit",
        ),
        Panel("Request duration by method", quantiles("vodstack_ingest_request_duration_seconds", "method"), "s"),
        Panel(
            "Upload bytes stored",
            (q("sum by (instance) (rate(vodstack_ingest_received_bytes_total[5m]))", "{{instance}}"),),
            "Bps",
        ),
        Panel("Uploads receiving data", (q("sum by (instance) (vodstack_ingest_active_uploads)", "{{instance}}"),)),
        Panel(
            "Upload lifecycle per hour",
            (q("sum by (event) (increase(vodstack_ingest_uploads_total[1h]))", "{{event}}"),),
        ),
    ),
)

SPEED = (
    "sum(rate(vodstack_transcoder_encoded_media_seconds_total[15m]))"
    ' / sum(rate(vodstack_transcoder_job_duration_seconds_sum{outcome="succeeded"}[15m]))'
)

TRANSCODE = Dashboard(
    "vodstack-transcode",
    "vodstack: transcode",
    (
        Panel("Queue depth", (q("max by (queue) (vodstack_transcoder_queue_messages)", "{{queue}}"),)),
        Panel(
            "Jobs in the catalog",
            (
                q("max by (state) (vodstack_transcoder_catalog_jobs)", "{{state}}"),
                q("max(vodstack_transcoder_overdue_jobs)", "overdue"),
            ),
        ),
        Panel("Jobs running, by worker", (q("sum by (instance) (vodstack_transcoder_jobs_running)", "{{instance}}"),)),
        Panel(
            "Jobs finished per hour, by outcome",
            (q("sum by (outcome) (increase(vodstack_transcoder_jobs_finished_total[1h]))", "{{outcome}}"),),
        ),
        Panel(
            "Failures per hour, by reason",
            (q("sum by (reason) (increase(vodstack_transcoder_failures_total[1h]))", "{{reason}}"),),
        ),
        Panel(
            "Encode speed (media seconds per wall second)",
            (
                q(SPEED, "all workers"),
                *quantiles("vodstack_transcoder_encode_speed_ratio", "", "1h"),
            ),
            "x",
        ),
        Panel(
            "Job duration (succeeded)",
            quantiles("vodstack_transcoder_job_duration_seconds", "", "1h", 'outcome="succeeded"'),
            "s",
        ),
        Panel("Time to first playable", quantiles("vodstack_transcoder_time_to_first_playable_seconds", "", "1h"), "s"),
        Panel("Oldest queued job", (q("max(vodstack_transcoder_oldest_queued_job_age_seconds)", "age"),), "s"),
        Panel(
            "Scratch disk free, by worker",
            (
                q(
                    "vodstack_transcoder_scratch_free_bytes / vodstack_transcoder_scratch_size_bytes",
                    "{{instance}}",
                ),
            ),
            "percentunit",
        ),
    ),
)

DELIVERY = Dashboard(
    "vodstack-delivery",
    "vodstack: delivery",
    (
        Panel(
            "Requests per second, by tier and cache status",
            (q(f"sum by (job, cache_status) ({EDGE_REQ})", "{{job}} {{cache_status}}"),),
            "reqps",
        ),
        Panel(
            "Hit ratio (requests), by node",
            (q(per_node_ratio(EDGE_HITS, EDGE_REQ), "{{job}} {{node}}"),),
            "percentunit",
        ),
        Panel(
            "Hit ratio (bytes), by node",
            (q(per_node_ratio(EDGE_HIT_BYTES, EDGE_BYTES), "{{job}} {{node}}"),),
            "percentunit",
            description="Bytes served from the node's cache (hit or stale) over all bytes it served.",
        ),
        Panel(
            "Offload (bytes not fetched upstream), by node",
            (
                q(
                    f"clamp_min(1 - sum by (job, node) ({EDGE_UPSTREAM_BYTES}) / sum by (job, node) ({EDGE_BYTES}), 0)",
                    "{{job}} {{node}}",
                ),
            ),
            "percentunit",
            description="1 - bytes received from upstream / bytes served: counts collapsed requests as saved, "
            "and the whole object a range miss fetched as spent.",
        ),
        Panel(
            "Origin offload",
            (
                q(
                    f"clamp_min(1 - ({ORIGIN_BYTES}) / sum({PLAYER_BYTES}), 0)",
                    "bytes",
                ),
                q(
                    f"clamp_min(1 - ({ORIGIN_FETCHES}) / sum({PLAYER_REQ}), 0)",
                    "requests",
                ),
            ),
            "percentunit",
            description="Player bytes and requests that never reached the origin, as the caches count them.",
            whole_stack=True,
        ),
        Panel(
            "Collapsed requests per second, by node",
            (
                q(
                    "sum by (job, node) (rate(vodstack_edge_collapsed_requests_total[5m]))"
                    f" or sum by (job, node) ({EDGE_REQ}) * 0",
                    "{{job}} {{node}}",
                ),
            ),
            "reqps",
        ),
        Panel("Time to first byte, by tier", quantiles("vodstack_edge_time_to_first_byte_seconds", "job"), "s"),
        Panel(
            "Time to first byte, by node and cache status (p95)",
            (
                q(
                    "histogram_quantile(0.95, sum by (le, job, node, cache_status)"
                    " (rate(vodstack_edge_time_to_first_byte_seconds_bucket[5m])))",
                    "{{job}} {{node}} {{cache_status}}",
                ),
            ),
            "s",
        ),
        Panel(
            "Egress, by node",
            (
                q("sum by (job, node) (rate(vodstack_edge_served_bytes_total[5m]))", "{{job}} {{node}}"),
                q("sum(rate(vodstack_origin_served_bytes_total[5m]))", "origin"),
            ),
            "Bps",
        ),
        Panel(
            "Evictions per second, by node and tier",
            (
                q(
                    "sum by (job, node, tier) (rate(vodstack_edge_evictions_total[5m]))"
                    " or sum by (job, node, tier) (vodstack_edge_cache_bytes) * 0",
                    "{{job}} {{node}} {{tier}}",
                ),
            ),
        ),
        Panel(
            "Cache fill (used / budget), by node and tier",
            (
                q(
                    "vodstack_edge_cache_bytes / (vodstack_edge_cache_budget_bytes > 0)",
                    "{{job}} {{node}} {{tier}}",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Cache bytes and objects, by node and tier",
            (
                q("sum by (job, node, tier) (vodstack_edge_cache_bytes)", "{{job}} {{node}} {{tier}} bytes"),
                q("sum by (job, node, tier) (vodstack_edge_cache_objects)", "{{job}} {{node}} {{tier}} objects"),
            ),
        ),
        Panel(
            "Upstream fetches per second, by node and outcome",
            (
                q(
                    "sum by (job, node, outcome) (rate(vodstack_edge_upstream_fetches_total[5m]))",
                    "{{job}} {{node}} {{outcome}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Origin requests per second, by object kind and status",
            (q("sum by (kind, code) (rate(vodstack_origin_requests_total[5m]))", "{{kind}} {{code}}"),),
            "reqps",
        ),
        Panel(
            "Origin storage latency",
            quantiles("vodstack_origin_storage_seconds", ""),
            "s",
        ),
        Panel(
            "Upstream circuit open, by node",
            (q("max by (job, node) (vodstack_edge_upstream_circuit_open)", "{{job}} {{node}}"),),
            kind="stat",
        ),
    ),
    variables=(
        Variable("tier", "Tier", "label_values(vodstack_edge_requests_total, job)"),
        Variable("node", "Node", 'label_values(vodstack_edge_requests_total{job=~"$tier"}, node)'),
    ),
)

# Lifecycle tiering (tiering/): exported by the origin when VODSTACK_TIERING_ENABLED.
STORAGE = Dashboard(
    "vodstack-storage",
    "vodstack: storage tiers",
    (
        Panel("Bytes, by tier", (q("sum by (tier) (vodstack_storage_tier_bytes)", "{{tier}}"),), "bytes"),
        Panel("Objects, by tier", (q("sum by (tier) (vodstack_storage_tier_objects)", "{{tier}}"),)),
        Panel(
            "Monthly storage cost, by tier",
            (q("sum by (tier) (vodstack_storage_tier_monthly_cost_usd)", "{{tier}}"),),
            "currencyUSD",
        ),
        Panel(
            "Transitions per hour",
            (
                q(
                    "sum by (from_tier, to_tier) (increase(vodstack_storage_tier_transitions_total[1h]))"
                    # No transition yet: one 0 series rather than a gap.
                    " or sum(vodstack_storage_tier_objects) * 0",
                    "{{from_tier}} -> {{to_tier}}",
                ),
            ),
        ),
        Panel("Cold restores started per hour", (q("sum(increase(vodstack_storage_restores_total[1h]))", "restores"),)),
        Panel(
            "Edge and shield cache bytes, by tier",
            (q("sum by (job, tier) (vodstack_edge_cache_bytes)", "{{job}} {{tier}}"),),
            "bytes",
        ),
        Panel(
            "Worker scratch disk free",
            (q("min(vodstack_transcoder_scratch_free_bytes)", "least free"),),
            "bytes",
        ),
    ),
)

DASHBOARDS = (OVERVIEW, INGEST, TRANSCODE, DELIVERY, STORAGE, VIEWER)


def all_queries() -> Iterator[tuple[Dashboard, Panel, str]]:
    """Every panel query of every dashboard, runnable as is (variables at "All")."""
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels:
            for query in panel_queries(dashboard, panel):
                yield dashboard, panel, evaluable(query.expr)


def rendered_files() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{d.uid}.json": json.dumps(build_dashboard(d).build(), cls=JSONEncoder, indent=2) + "\n" for d in DASHBOARDS
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m observability.dashboards", description=__doc__)
    parser.add_argument("out_dir", type=Path, help="where to write the dashboard JSON files")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_files().items():
        (args.out_dir / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
