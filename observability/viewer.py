"""The "viewer experience" dashboard: what predicts whether viewers stay, measured at the edges
from CMCD and the players' beacons (cdn_edge/qoe.py): startup time, rebuffering, start failures,
the bitrate served by rung. Alerts on the same expressions: infra/prometheus/rules/vodstack.yml.
"""

from __future__ import annotations

from observability.grafana import Dashboard, Panel
from observability.promql import q, quantiles

# Estimated share of viewing time spent stalled (cdn_edge/qoe.py says how both are estimated).
REBUFFER_RATIO = (
    "sum(rate(vodstack_qoe_rebuffer_seconds_total[5m]))"
    " / (sum(rate(vodstack_qoe_watch_seconds_total[5m])) + sum(rate(vodstack_qoe_rebuffer_seconds_total[5m])))"
)
START_FAILURE_RATIO = "sum(rate(vodstack_qoe_start_failures_total[15m])) / sum(rate(vodstack_qoe_sessions_total[15m]))"

VIEWER = Dashboard(
    "vodstack-viewer",
    "vodstack: viewer experience",
    (
        Panel(
            "Video startup time (edge: first request to first media segment)",
            quantiles("vodstack_qoe_startup_seconds", "", where='source="edge"'),
            "s",
            description="Abandonment starts at 2 s and grows about 5.8% per extra second.",
        ),
        Panel(
            "Video startup time (players: load to playing, from the beacon)",
            quantiles("vodstack_qoe_startup_seconds", "", where='source="player"'),
            "s",
        ),
        Panel("Rebuffer ratio (estimated)", (q(REBUFFER_RATIO, "stalled / watched"),), "percentunit"),
        Panel(
            "Rebuffer events per minute",
            (q("sum(rate(vodstack_qoe_rebuffer_events_total[5m])) * 60", "rebuffers"),),
        ),
        Panel("Start failure ratio", (q(START_FAILURE_RATIO, "failed / sessions"),), "percentunit"),
        Panel(
            "Sessions started per minute, fatal errors after start per minute",
            (
                q("sum(rate(vodstack_qoe_sessions_total[5m])) * 60", "sessions"),
                q("sum(rate(vodstack_qoe_playback_errors_total[5m])) * 60", "playback errors"),
            ),
        ),
        Panel("Active sessions", (q("sum(vodstack_qoe_active_sessions)", "sessions"),), kind="stat"),
        Panel(
            "Media segments served per second, by bitrate rung",
            (q("sum by (rung) (rate(vodstack_qoe_media_requests_total[5m]))", "{{rung}}"),),
            "reqps",
        ),
        Panel(
            "Throughput measured by players",
            quantiles("vodstack_qoe_measured_throughput_kbps", "")[:2],
            "Kbits",
        ),
        Panel(
            "Beacons per minute, by outcome",
            (q("sum by (outcome) (rate(vodstack_qoe_beacons_total[5m])) * 60", "{{outcome}}"),),
        ),
    ),
)
