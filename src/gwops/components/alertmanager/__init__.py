"""Alertmanager: routes the alerts Prometheus fires to the receivers in `monitoring.receivers`
(webhooks, e-mail). With none (the default), alerts are kept and listed by `bin/ops alerts` and
`bin/ops status`, and sent nowhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gwops.components.base import Component, FilesContext, MetricsTarget
from gwops.components.monitoring import enabled, reload_config, write_secret
from gwops.fsutil import atomic_write

if TYPE_CHECKING:
    from gwops.components.base import StackContext

SERVICE = "alertmanager"
SMTP_PASSWORD = "secrets/alertmanager-smtp-password"  # under state/


def files(ctx: FilesContext) -> bool:
    m = ctx.settings.monitoring
    receivers = [{"name": r.name, "webhooks": r.webhooks, "emails": r.emails} for r in m.receivers]
    smtp = None
    if m.smtp is not None:
        smtp = {"smarthost": m.smtp.smarthost, "from": m.smtp.sender, "require_tls": m.smtp.require_tls}
        if m.smtp.username:
            smtp["auth_username"] = m.smtp.username
        if m.smtp.password_env:  # from `.env`, into a file only the container reads
            write_secret(ctx, SMTP_PASSWORD, ctx.env.get(m.smtp.password_env, ""))
            smtp["auth_password_file"] = "/run/secrets/smtp-password"
    d = ctx.dir(SERVICE)
    changed = atomic_write(
        d / "alertmanager.yml",
        COMPONENT.render(
            "alertmanager.yml.j2",
            receivers=receivers,
            smtp=smtp,
            group_wait=f"{m.group_wait_seconds}s",
            group_interval=f"{m.group_interval_seconds}s",
        ),
    )
    d.chmod(0o755)
    return changed


def apply(stack: StackContext) -> None:
    """New receivers into the running Alertmanager (amtool first, then /-/reload)."""
    reload_config(
        stack,
        COMPONENT.service,
        stack.settings.monitoring.alertmanager_port,
        ["amtool", "check-config", "/etc/alertmanager/alertmanager.yml"],
    )


COMPONENT = Component(
    name=SERVICE,
    package=__name__,
    description="alert routing",
    core=False,
    enabled=enabled,
    files=files,
    apply=apply,
    metrics=MetricsTarget("alertmanager", 9093),
    ready_path="/-/ready",
    ports=lambda s: [(s.monitoring.bind, s.monitoring.alertmanager_port, "monitoring.alertmanager_port")],
)
