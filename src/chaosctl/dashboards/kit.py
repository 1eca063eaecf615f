"""Small building blocks over grafana-foundation-sdk, so the dashboards read as a list of panels.

Every panel queries the dashboard's `$datasource` variable (a Prometheus data
source), so one JSON file works with whatever data source name a Grafana has.
The SDK lays panels out left to right, top to bottom, from `span` and `height`.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
GRAFANA_ANNOTATIONS = model.DataSourceRef(type_val="grafana", uid="-- Grafana --")
# Scrapes run every second, so a 15 s window holds enough samples for rate()
# while staying short enough that a 30 s chaos phase is visible on its own.
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    """One PromQL target: the expression and how its series are named in the legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Threshold:
    """A colour step: from `value` upwards (None = the base step) the panel turns `color`."""

    value: float | None
    color: str


def thresholds(*steps: Threshold) -> dash.ThresholdsConfig:
    return dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(
        [model.Threshold(value=s.value, color=s.color) for s in steps]
    )


def upper_bound(limit: float) -> dash.ThresholdsConfig:
    """Green below `limit`, red from it (latencies, error ratios, burn rates)."""
    return thresholds(Threshold(None, "green"), Threshold(limit, "red"))


def lower_bound(limit: float) -> dash.ThresholdsConfig:
    """Red below `limit`, green from it (success ratios)."""
    return thresholds(Threshold(None, "red"), Threshold(limit, "green"))


def _targets(panel, queries: tuple[Query, ...]):
    for i, q in enumerate(queries):
        target = prom.Dataquery().expr(q.expr).legend_format(q.legend or "__auto").ref_id(chr(ord("A") + i))
        panel = panel.with_target(target.datasource(DATASOURCE))
    return panel


def _common(panel, title: str, description: str, unit: str, span: int, height: int):
    return panel.title(title).description(description).datasource(DATASOURCE).unit(unit).span(span).height(height)


def graph(title: str, description: str, *queries: Query, unit: str = "short", span: int = 12,
          height: int = 8, limits: dash.ThresholdsConfig | None = None) -> timeseries.Panel:
    """A time series panel; with `limits`, the thresholds are drawn as dashed lines."""
    panel = _common(timeseries.Panel(), title, description, unit, span, height)
    if limits is not None:
        style = common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        panel = panel.thresholds(limits).thresholds_style(style)
    return _targets(panel, queries)


def single(title: str, description: str, *queries: Query, unit: str = "short", span: int = 6,
           height: int = 5, limits: dash.ThresholdsConfig | None = None, by_name: bool = False) -> stat.Panel:
    """A stat panel (last value); `by_name` shows the series name instead of its value."""
    panel = _common(stat.Panel(), title, description, unit, span, height)
    panel = panel.color_mode(common.BigValueColorMode.BACKGROUND if limits else common.BigValueColorMode.NONE)
    if limits is not None:
        panel = panel.thresholds(limits)
    if by_name:
        panel = panel.text_mode(common.BigValueTextMode.NAME)
    return _targets(panel, queries)


def states(title: str, description: str, *queries: Query, mapping: dict[int, tuple[str, str]],
           span: int = 24, height: int = 6) -> statetimeline.Panel:
    """A state timeline: `mapping` turns each integer value into (text, colour)."""
    panel = _common(statetimeline.Panel(), title, description, "short", span, height)
    options = {
        str(value): model.ValueMappingResult(text=text, color=color, index=i)
        for i, (value, (text, color)) in enumerate(sorted(mapping.items()))
    }
    panel = panel.mappings([model.ValueMap(options=options)]).show_value(common.VisibilityMode.NEVER)
    return _targets(panel, queries)


def grid(title: str, description: str, *queries: Query, span: int = 12, height: int = 6) -> table.Panel:
    """A table of the instant values of `queries` (one row per series)."""
    panel = _common(table.Panel(), title, description, "short", span, height)
    for i, q in enumerate(queries):
        target = prom.Dataquery().expr(q.expr).legend_format(q.legend or "__auto").ref_id(chr(ord("A") + i))
        target = target.instant().format(PromQueryFormat.TABLE)
        panel = panel.with_target(target.datasource(DATASOURCE))
    return panel


def datasource_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, label: str, metric: str, title: str) -> dash.QueryVariable:
    """A multi-select variable over the values of `label` on `metric` ("All" = every value)."""
    return (
        dash.QueryVariable(name)
        .label(title)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {label})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def prometheus_annotation(name: str, expr: str, color: str) -> dash.AnnotationQuery:
    """An annotation drawn wherever `expr` has a sample (regions while it holds)."""
    return dash.AnnotationQuery().name(name).datasource(DATASOURCE).enable(True).icon_color(color).expr(expr)


def grafana_annotations(tag: str) -> dash.AnnotationQuery:
    """Annotations posted through Grafana's HTTP API (by `chaosctl run`) carrying `tag`."""
    target = dash.AnnotationTarget().type("tags").tags([tag]).limit(500).match_any(True)
    return (
        dash.AnnotationQuery()
        .name("chaosctl events")
        .datasource(GRAFANA_ANNOTATIONS)
        .enable(True)
        .icon_color("purple")
        .target(target)
    )
