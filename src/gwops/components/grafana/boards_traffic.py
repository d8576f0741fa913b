"""The dashboards of the traffic: overview, tokens and cost, performance."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from gwops.components.grafana.panels import (
    MODEL,
    SERVER_ERRORS,
    dashboard,
    quantile,
    rate,
    st,
    ts,
)


def overview() -> Dashboard:
    total, failed = "litellm_proxy_total_requests_metric_total", "litellm_proxy_failed_requests_metric_total"
    d = dashboard(
        "gwops-overview",
        "gwops / Overview",
        "Traffic through the gateway: requests, failures, error ratio, in-flight requests, proxy sessions.",
        model_var=True,
    )
    d = (
        d.with_row(Row("Gateway (LiteLLM)"))
        .with_panel(st("Requests/s", "reqps", (rate(total, MODEL), "requests/s"), w=6))
        .with_panel(
            st(
                "Failures/s",
                "reqps",
                (rate(failed, MODEL), "failures/s"),
                w=6,
                steps=[(None, "green"), (0.01, "orange")],
            )
        )
        .with_panel(
            st(
                "Error ratio (5xx)",
                "percentunit",
                (f"({rate(failed, SERVER_ERRORS)} or vector(0)) / {rate(total, MODEL)}", "5xx / all"),
                description="Server-side failures over all requests (a 400 for an unknown model is not counted here).",
                w=6,
                steps=[(None, "green"), (0.01, "orange"), (0.05, "red")],
            )
        )
        .with_panel(st("In-flight requests", "short", ("sum (litellm_in_flight_requests)", "in flight"), w=6))
        .with_panel(ts("Requests/s by model", "reqps", (rate(total, MODEL, "requested_model"), "{{requested_model}}")))
        .with_panel(ts("Failures/s by model", "reqps", (rate(failed, MODEL, "requested_model"), "{{requested_model}}")))
        .with_panel(ts("Requests/s by route", "reqps", (rate(total, MODEL, "route"), "{{route}}")))
        .with_panel(
            ts(
                "Failures/s by route and status",
                "reqps",
                (rate(failed, MODEL, "route, exception_status"), "{{route}} {{exception_status}}"),
            )
        )
        .with_panel(
            ts(
                "Failures/s by exception class",
                "reqps",
                (rate(failed, MODEL, "exception_class"), "{{exception_class}}"),
            )
        )
        .with_panel(
            ts(
                "Error ratio by model (5xx)",
                "percentunit",
                # a model without a failure shows 0, not a gap
                (
                    f"({rate(failed, SERVER_ERRORS, 'requested_model')} or {rate(total, MODEL, 'requested_model')} * 0)"
                    f" / {rate(total, MODEL, 'requested_model')}",
                    "{{requested_model}}",
                ),
            )
        )
        .with_panel(
            ts(
                "In-flight requests by replica",
                "short",
                ("sum by (service) (litellm_in_flight_requests)", "{{service}}"),
                description="Requests a gateway replica is working on (summed over its workers).",
                w=24,
            )
        )
        .with_row(Row("Proxy (HAProxy)"))
        .with_panel(
            ts(
                "Proxy requests/s",
                "reqps",
                (
                    'sum by (proxy) (rate(haproxy_frontend_http_requests_total{proxy="gateway"}[$__rate_interval]))',
                    "{{proxy}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Proxy sessions",
                "short",
                ('sum by (proxy) (haproxy_frontend_current_sessions{proxy="gateway"})', "frontend {{proxy}}"),
                ('sum by (proxy) (haproxy_backend_current_sessions{proxy=~"slot_.*"})', "backend {{proxy}}"),
                ('sum by (proxy) (haproxy_backend_current_queue{proxy=~"slot_.*"})', "queued {{proxy}}"),
            )
        )
        .with_panel(
            ts(
                "Proxy responses/s by class",
                "reqps",
                (
                    'sum by (code) (rate(haproxy_frontend_http_responses_total{proxy="gateway"}[$__rate_interval]))',
                    "{{code}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Proxy connection errors and retries/s",
                "short",
                (
                    'sum by (proxy) (rate(haproxy_backend_connection_errors_total{proxy=~"slot_.*"}[$__rate_interval]))',
                    "connection errors {{proxy}}",
                ),
                (
                    'sum by (proxy) (rate(haproxy_backend_retry_warnings_total{proxy=~"slot_.*"}[$__rate_interval]))',
                    "retries {{proxy}}",
                ),
                (
                    'sum by (proxy) (rate(haproxy_backend_redispatch_warnings_total{proxy=~"slot_.*"}[$__rate_interval]))',
                    "redispatched {{proxy}}",
                ),
            )
        )
    )
    return d


def tokens() -> Dashboard:
    d = dashboard(
        "gwops-tokens",
        "gwops / Tokens and cost",
        "Input, output and total tokens per model, spend in USD as LiteLLM prices it.",
        model_var=True,
    )
    inc = "$__range"
    d = (
        d.with_row(Row("Over the selected range"))
        .with_panel(
            st(
                "Input tokens",
                "short",
                (f"sum (increase(litellm_input_tokens_metric_total{{{MODEL}}}[{inc}]))", "input"),
                w=6,
            )
        )
        .with_panel(
            st(
                "Output tokens",
                "short",
                (f"sum (increase(litellm_output_tokens_metric_total{{{MODEL}}}[{inc}]))", "output"),
                w=6,
            )
        )
        .with_panel(
            st(
                "Total tokens",
                "short",
                (f"sum (increase(litellm_total_tokens_metric_total{{{MODEL}}}[{inc}]))", "total"),
                w=6,
            )
        )
        .with_panel(
            st("Spend", "currencyUSD", (f"sum (increase(litellm_spend_metric_total{{{MODEL}}}[{inc}]))", "USD"), w=6)
        )
        .with_row(Row("Rates per model"))
        .with_panel(
            ts(
                "Input tokens/s by model",
                "short",
                (rate("litellm_input_tokens_metric_total", MODEL, "requested_model"), "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Output tokens/s by model",
                "short",
                (rate("litellm_output_tokens_metric_total", MODEL, "requested_model"), "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Total tokens/s by model",
                "short",
                (rate("litellm_total_tokens_metric_total", MODEL, "requested_model"), "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Spend per hour by model",
                "currencyUSD",
                (f"{rate('litellm_spend_metric_total', MODEL, 'requested_model')} * 3600", "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Spend per hour by provider",
                "currencyUSD",
                (f"{rate('litellm_spend_metric_total', MODEL, 'api_provider')} * 3600", "{{api_provider}}"),
            )
        )
        .with_panel(
            ts(
                "Tokens per request by model",
                "short",
                (
                    f"{rate('litellm_total_tokens_metric_total', MODEL, 'requested_model')}"
                    f" / {rate('litellm_requests_metric_total', MODEL, 'requested_model')}",
                    "{{requested_model}}",
                ),
                description="Tokens over successful LLM calls.",
            )
        )
    )
    return d


def performance() -> Dashboard:
    lat = "litellm_request_total_latency_metric"
    d = dashboard(
        "gwops-performance",
        "gwops / Performance",
        "End-to-end latency quantiles, time to first token, provider latency, queue time, LiteLLM overhead.",
        model_var=True,
    )
    d = (
        d.with_row(Row("End to end (a streamed request counts until its last chunk)"))
        .with_panel(
            ts(
                "Request latency p50 / p95 / p99",
                "s",
                (quantile(0.5, lat), "p50"),
                (quantile(0.95, lat), "p95"),
                (quantile(0.99, lat), "p99"),
                (
                    f"sum (rate({lat}_sum{{{MODEL}}}[$__rate_interval])) / sum (rate({lat}_count{{{MODEL}}}[$__rate_interval]))",
                    "mean",
                ),
            )
        )
        .with_panel(
            ts("Request latency p95 by model", "s", (quantile(0.95, lat, by="requested_model"), "{{requested_model}}"))
        )
        .with_panel(
            ts(
                "Time to first token p50 / p95 (streamed requests)",
                "s",
                (quantile(0.5, "litellm_llm_api_time_to_first_token_metric"), "p50"),
                (quantile(0.95, "litellm_llm_api_time_to_first_token_metric"), "p95"),
            )
        )
        .with_panel(
            ts(
                "Time to first token p95 by model",
                "s",
                (
                    quantile(0.95, "litellm_llm_api_time_to_first_token_metric", by="requested_model"),
                    "{{requested_model}}",
                ),
            )
        )
        .with_row(Row("Provider and gateway"))
        .with_panel(
            ts(
                "Provider latency p95 by provider",
                "s",
                (quantile(0.95, "litellm_llm_api_latency_metric", by="api_provider"), "{{api_provider}}"),
                description="The call to the provider alone (`litellm_llm_api_latency_metric`).",
            )
        )
        .with_panel(
            ts(
                "Provider latency p50 by provider",
                "s",
                (quantile(0.5, "litellm_llm_api_latency_metric", by="api_provider"), "{{api_provider}}"),
            )
        )
        .with_panel(
            ts(
                "Queue time p50 / p95",
                "s",
                (quantile(0.5, "litellm_request_queue_time_seconds"), "p50"),
                (quantile(0.95, "litellm_request_queue_time_seconds"), "p95"),
                description="From arrival to the start of LiteLLM's pre-call processing.",
            )
        )
        .with_panel(
            ts(
                "LiteLLM overhead (mean) by model group",
                "s",
                (
                    "sum by (model_group) (rate(litellm_request_total_latency_metric_sum[$__rate_interval]))"
                    " / sum by (model_group) (rate(litellm_request_total_latency_metric_count[$__rate_interval]))"
                    " - sum by (model_group) (rate(litellm_llm_api_latency_metric_sum[$__rate_interval]))"
                    " / sum by (model_group) (rate(litellm_llm_api_latency_metric_count[$__rate_interval]))",
                    "{{model_group}}",
                ),
                description="End-to-end latency minus the provider call's, per request: what the gateway "
                "adds (LiteLLM's own overhead histogram is not emitted for every call).",
            )
        )
    )
    return d
