"""The dashboards of operations: health (services, reloads, backups, alerts) and system."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from gwops.components.grafana.panels import (
    DS,
    dashboard,
    q,
    st,
    ts,
)


def health() -> Dashboard:
    d = dashboard(
        "gwops-health",
        "gwops / Health",
        "Provider deployments, gateway replicas, Postgres, Redis, backups, reloads and firing alerts.",
    )
    updown = [(None, "red"), (1, "green")]
    d = (
        d.with_row(Row("Services"))
        .with_panel(
            st(
                "Gateway replicas up",
                "short",
                ('sum (up{job="gateway"} unless on(instance) gwops_gateway_standby == 1)', "serving, scraped up"),
                w=4,
                steps=[(None, "red"), (1, "orange"), (2, "green")],
            )
        )
        .with_panel(
            st(
                "Replicas in rotation (proxy)",
                "short",
                ('sum (haproxy_backend_active_servers{proxy=~"slot_.*"})', "active servers"),
                w=4,
                steps=[(None, "red"), (1, "orange"), (2, "green")],
            )
        )
        .with_panel(st("Postgres", "bool_yes_no", ("min (pg_up)", "pg_up"), w=4, steps=updown))
        .with_panel(st("Redis", "bool_yes_no", ("min (redis_up)", "redis_up"), w=4, steps=updown))
        .with_panel(
            st(
                "Last verified backup age",
                "s",
                ("time() - max (gwops_backup_last_verified_timestamp_seconds)", "age"),
                w=4,
                steps=[(None, "green"), (86400, "orange"), (172800, "red")],
                description="Since the newest backup whose restore was verified (the alert uses the configured maximum age).",
            )
        )
        .with_panel(
            st(
                "Firing alerts",
                "short",
                ('count (ALERTS{alertstate="firing"}) or vector(0)', "firing"),
                w=4,
                steps=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(
            ts(
                "Scrape targets up by job",
                "short",
                ("sum by (job) (up)", "{{job}}"),
                description="Containers Prometheus scrapes, per component.",
            )
        )
        .with_panel(
            ts(
                "Proxy servers by state",
                "short",
                ('sum by (proxy, state) (haproxy_server_status{proxy=~"slot_.*"})', "{{proxy}} {{state}}"),
                description="Gateway replicas as HAProxy sees them (checked servers and unchecked spares).",
            )
        )
        .with_row(Row("Provider deployments"))
        .with_panel(
            ts(
                "Deployment state (0 healthy, 1 partial outage, 2 cooldown)",
                "short",
                (
                    "max without (pid) (litellm_deployment_state)",
                    "{{litellm_model_name}} {{api_provider}} ({{instance}})",
                ),
                description="Per replica, the worst value over its workers; it stays at its last value until the next request.",
                minimum=None,
            )
        )
        .with_panel(
            ts(
                "Deployment cooldowns/s",
                "short",
                # the counter appears with the first cooldown: until then, 0
                (
                    "sum by (litellm_model_name, api_provider) (rate(litellm_deployment_cooled_down_total[$__rate_interval]))"
                    " or vector(0)",
                    "{{litellm_model_name}} ({{api_provider}})",
                ),
            )
        )
        .with_row(Row("Toolkit"))
        .with_panel(
            ts(
                "Reload failures and rollbacks",
                "short",
                ("sum (increase(gwops_reload_failures_total[$__rate_interval]))", "failed"),
                ("sum (increase(gwops_reload_rollbacks_total[$__rate_interval]))", "rolled back"),
                ("max (gwops_reload_last_outcome)", "last outcome (0 ok, 1 failed, 2 rolled back)"),
            )
        )
        .with_panel(
            ts(
                "Backup and reload durations",
                "s",
                ("max (gwops_backup_last_duration_seconds)", "last backup"),
                ("max (gwops_reload_last_duration_seconds)", "last reload"),
                ("max (gwops_up_last_duration_seconds)", "last up"),
            )
        )
        .with_panel(
            table.Panel()
            .title("Route capabilities (bin/ops probe: 1 yes, 0 no, -1 error)")
            .datasource(DS)
            .span(16)
            .height(8)
            .with_target(
                q(
                    "max by (route, capability) (gwops_probe_capability)",
                    "{{route}} {{capability}}",
                    instant=True,
                    fmt=PromQueryFormat.TABLE,
                )
            )
        )
        .with_panel(
            ts(
                "Streaming at the last probe: first token",
                "s",
                ("max by (route) (gwops_probe_ttft_seconds)", "{{route}}"),
                w=8,
                description="Time to the first streamed token per route, when `bin/ops probe` last ran.",
            )
        )
        .with_panel(
            table.Panel()
            .title("Firing alerts (labels)")
            .datasource(DS)
            .span(24)
            .height(8)
            .with_target(q('ALERTS{alertstate="firing"}', "{{alertname}}", instant=True, fmt=PromQueryFormat.TABLE))
        )
    )
    return d


def system() -> Dashboard:
    fs = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.lxcfs"'
    d = dashboard(
        "gwops-system",
        "gwops / System",
        "The host (node-exporter): CPU, memory, disk; containers scraped; Prometheus' own storage.",
    )
    d = (
        d.with_row(Row("Host"))
        .with_panel(
            ts(
                "CPU busy",
                "percentunit",
                ('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))', "busy"),
                (
                    'avg by (mode) (rate(node_cpu_seconds_total{mode=~"user|system|iowait|steal"}[$__rate_interval]))',
                    "{{mode}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Load average",
                "short",
                ("node_load1", "1 min"),
                ("node_load5", "5 min"),
                ('count without (cpu, mode) (node_cpu_seconds_total{mode="idle"})', "cores"),
            )
        )
        .with_panel(
            ts(
                "Memory",
                "bytes",
                ("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", "used"),
                ("node_memory_MemAvailable_bytes", "available"),
                ("node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes", "swap used"),
            )
        )
        .with_panel(
            ts(
                "Disk free",
                "percentunit",
                (f"node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}", "{{mountpoint}}"),
                description="The alert fires under the configured free ratio (10% by default).",
            )
        )
        .with_panel(
            ts(
                "Disk I/O",
                "Bps",
                ("sum by (device) (rate(node_disk_read_bytes_total[$__rate_interval]))", "read {{device}}"),
                ("sum by (device) (rate(node_disk_written_bytes_total[$__rate_interval]))", "written {{device}}"),
            )
        )
        .with_panel(
            ts(
                "Network",
                "Bps",
                (
                    'sum by (device) (rate(node_network_receive_bytes_total{device!="lo"}[$__rate_interval]))',
                    "in {{device}}",
                ),
                (
                    'sum by (device) (rate(node_network_transmit_bytes_total{device!="lo"}[$__rate_interval]))',
                    "out {{device}}",
                ),
            )
        )
        .with_row(Row("Containers and Prometheus"))
        .with_panel(
            st(
                "Containers scraped",
                "short",
                ("count (up == 1)", "up"),
                w=6,
                description="Containers of the stack that answer Prometheus (every component with metrics).",
            )
        )
        .with_panel(
            st(
                "Prometheus TSDB size",
                "bytes",
                ("sum (prometheus_tsdb_storage_blocks_bytes)", "blocks"),
                w=6,
                description="Persisted blocks (the head in memory is `Head series`); "
                "`monitoring.retention_size` bounds it.",
            )
        )
        .with_panel(st("Head series", "short", ("sum (prometheus_tsdb_head_series)", "series"), w=6))
        .with_panel(
            st(
                "Scrape targets down",
                "short",
                ("count (up == 0) or vector(0)", "down"),
                w=6,
                steps=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(ts("Containers scraped by job", "short", ("count by (job) (up == 1)", "{{job}}")))
        .with_panel(
            ts(
                "Prometheus storage",
                "bytes",
                ("sum (prometheus_tsdb_storage_blocks_bytes)", "blocks"),
                ("max (prometheus_tsdb_retention_limit_bytes)", "retention limit"),
            )
        )
    )
    return d
