"""Dashboards as values (panels of PromQL queries), built into Grafana's JSON with grafana-foundation-sdk.

The SDK's builders own Grafana's schema (field names, defaults, enums); this module only says
what each panel shows and where it sits: panels in COLUMNS columns of WIDTH x HEIGHT, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    GridPos,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from observability.promql import ALL_VALUE, Query, filter_edge

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
WIDTH, HEIGHT, COLUMNS = 12, 8, 2


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    description: str = ""
    # Compares tiers with each other: the dashboard's $tier/$node selection does not apply.
    whole_stack: bool = False


@dataclass(frozen=True)
class Variable:
    """A Grafana query variable (multi-select, "All" = ALL_VALUE) over an edge metric label."""

    name: str
    label: str
    query: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = field(default=("vodstack",))
    # With variables, every vodstack_edge_* selector of the panels (but whole_stack ones) is
    # narrowed by them.
    variables: tuple[Variable, ...] = ()


def panel_queries(dashboard: Dashboard, panel: Panel) -> tuple[Query, ...]:
    if not dashboard.variables or panel.whole_stack:
        return panel.queries
    return tuple(Query(filter_edge(query.expr), query.legend) for query in panel.queries)


def build_variable(variable: Variable) -> dashboard_builders.QueryVariable:
    return (
        dashboard_builders.QueryVariable(variable.name)
        .label(variable.label)
        .datasource(DATASOURCE)
        .query({"query": variable.query, "refId": variable.name})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .multi(True)
        .all_value(ALL_VALUE)
        .current(VariableOption(selected=True, text=["All"], value=["$__all"]))
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def build_panel(panel: Panel, panel_id: int, place: GridPos, queries: tuple[Query, ...]) -> Any:
    builder: Any
    if panel.kind == "stat":
        reduce = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)
        builder = stat.Panel().reduce_options(reduce)
    else:
        legend = (
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        tooltip = common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
        builder = timeseries.Panel().legend(legend).tooltip(tooltip.sort(common.SortOrder.DESCENDING))
    builder = builder.id(panel_id).title(panel.title).datasource(DATASOURCE).grid_pos(place).unit(panel.unit)
    if panel.description:
        builder = builder.description(panel.description)
    for i, query in enumerate(queries):
        target = prometheus.Dataquery().ref_id(chr(ord("A") + i)).datasource(DATASOURCE)
        builder = builder.with_target(target.expr(query.expr).legend_format(query.legend))
    return builder


def build_dashboard(dashboard: Dashboard) -> dashboard_builders.Dashboard:
    builder = (
        dashboard_builders.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .tags(list(dashboard.tags))
        .timezone("browser")
        .version(1)
        .editable()
        .refresh("30s")
        .time("now-6h", "now")
        .link(
            dashboard_builders.DashboardLink("vodstack")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["vodstack"])
            .as_dropdown(True)
        )
    )
    for i, panel in enumerate(dashboard.panels):
        place = GridPos(h=HEIGHT, w=WIDTH, x=(i % COLUMNS) * WIDTH, y=(i // COLUMNS) * HEIGHT)
        builder = builder.with_panel(build_panel(panel, i + 1, place, panel_queries(dashboard, panel)))
    for variable in dashboard.variables:
        builder = builder.with_variable(build_variable(variable))
    return builder
