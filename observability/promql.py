"""PromQL for the dashboards: query values, the building blocks panels share, and the $tier/$node filter.

Queries use fixed ranges rather than Grafana's $__rate_interval so that they run unchanged through
Prometheus's HTTP API. Ratios over counters that a node may not have incremented yet use
`(a or b * 0) / b`, so a node with no hits shows 0, not a gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL_VALUE = ".*"
EDGE_FILTER = 'job=~"$tier", node=~"$node"'
_EDGE_SELECTOR = re.compile(r"\b(vodstack_edge_[a-z_]+)(?:\{([^}]*)\})?")


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


def q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


def filter_edge(expr: str) -> str:
    """Add the $tier/$node matchers to every edge metric selector of `expr`."""

    def narrow(match: re.Match[str]) -> str:
        inner = match.group(2)
        return f"{match.group(1)}{{{EDGE_FILTER}{', ' + inner if inner else ''}}}"

    return _EDGE_SELECTOR.sub(narrow, expr)


def evaluable(expr: str) -> str:
    """The query as Grafana runs it with every variable at "All": what Prometheus's API can run."""
    return re.sub(r"\$(tier|node)\b", ALL_VALUE, expr)


def per_node_ratio(part: str, whole: str, by: str = "job, node") -> str:
    """sum(part)/sum(whole) per `by`, 0 (not absent) where `part` has no series yet."""
    return f"(sum by ({by}) ({part}) or sum by ({by}) ({whole}) * 0) / sum by ({by}) ({whole})"


def quantiles(metric: str, by: str, window: str = "5m", where: str = "") -> tuple[Query, ...]:
    """p50, p95 and p99 of a histogram, per `by` (comma-separated labels, or "" for one series)."""
    sel = f"{metric}_bucket{{{where}}}" if where else f"{metric}_bucket"
    by_legend = "".join(f"{{{{{label.strip()}}}}} " for label in by.split(",") if label.strip())
    return tuple(
        q(
            f"histogram_quantile({p}, sum by (le{', ' + by if by else ''}) (rate({sel}[{window}])))",
            f"{by_legend}p{int(p * 100)}",
        )
        for p in (0.5, 0.95, 0.99)
    )
