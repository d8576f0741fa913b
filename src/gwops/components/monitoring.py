"""What the monitoring components share: they are on with `monitoring.enabled` (config/stack.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gwops.settings import StackSettings


def enabled(settings: StackSettings) -> bool:
    return settings.monitoring.enabled
