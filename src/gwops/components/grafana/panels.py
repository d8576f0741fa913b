"""The building blocks of the dashboards (gwops.components.grafana.dashboards): the datasource,
the query, time-series and stat panels, the model variable, and PromQL helpers."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from gwops.components.grafana.uid import DATASOURCE_UID

TAGS = ["gwops"]
DS = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
ALL = ".*"  # the value of a variable's "All" option (a regex: used with =~)
# Grafana's own interval variables, as panel_queries() substitutes them for a direct query
BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600", "__interval_ms": "60000"}
MODEL = 'requested_model=~"$model"'
SERVER_ERRORS = MODEL + ', exception_status=~"5.."'  # what the error-ratio alert counts


# -- building blocks ------------------------------------------------------------------------------


def q(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: PromQueryFormat | None = None
) -> Dataquery:
    d = Dataquery().expr(expr).ref_id(ref).datasource(DS).legend_format(legend or "__auto")
    d = d.instant() if instant else d.range()
    return d.format(fmt) if fmt is not None else d


def _targets(panel: Any, queries: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> Any:
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(q(expr, legend, ref=chr(ord("A") + i)))
    return panel


def ts(
    title: str,
    unit: str,
    *queries: tuple[str, str],
    description: str = "",
    w: int = 12,
    h: int = 8,
    minimum: float | None = 0,
) -> timeseries.Panel:
    """A time series panel; `queries` are (PromQL, legend) pairs."""
    p = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .calcs([])
        )
    )
    if minimum is not None:
        p = p.min(minimum)
    return _targets(p, queries)


def st(
    title: str,
    unit: str,
    *queries: tuple[str, str],
    description: str = "",
    w: int = 6,
    h: int = 4,
    steps: list[tuple[float | None, str]] | None = None,
) -> stat.Panel:
    """A single-value panel (last value); `steps` are threshold (value, colour) pairs, the first None."""
    p = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .graph_mode(BigValueGraphMode.AREA)
        .color_mode(BigValueColorMode.BACKGROUND)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    steps = steps or [(None, "green")]
    p = p.thresholds(
        ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])
    )
    return _targets(p, queries)


def model_variable() -> QueryVariable:
    return (
        QueryVariable("model")
        .label("Model")
        .description("the model name clients asked for (`requested_model`; `other`: an unknown one)")
        .query("label_values(litellm_proxy_total_requests_metric_total, requested_model)")
        .datasource(DS)
        .multi(True)
        .include_all(True)
        .all_value(ALL)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def dashboard(uid: str, title: str, description: str, model_var: bool = False) -> Dashboard:
    d = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .readonly()
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )
    return d.with_variable(model_variable()) if model_var else d


def rate(metric: str, selector: str = "", by: str = "", window: str = "$__rate_interval") -> str:
    sel = "{" + selector + "}" if selector else ""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{sel}[{window}]))"


def quantile(qv: float, metric: str, selector: str = MODEL, by: str = "") -> str:
    keys = f"{by}, le" if by else "le"
    return f"histogram_quantile({qv}, sum by ({keys}) (rate({metric}_bucket{{{selector}}}[$__rate_interval])))"


# -- the dashboards -------------------------------------------------------------------------------
