"""The registry: every component (see gwops.components.base), loaded from its folder by its line
in gwops.pins, in that order. The modules that act on every component (images, render, up,
status, reload) iterate it; a component never imports it: it sees the others through the context
it is handed (`StackContext.registry`, `FilesContext.registry`)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from gwops.components.base import Component
from gwops.pins import COMPONENTS as PINS

if TYPE_CHECKING:
    from gwops.settings import StackSettings

NAMES = tuple(PINS)  # the registry's lines (gwops.pins)
REGISTRY: tuple[Component, ...] = tuple(import_module(f"{__name__}.{name}").COMPONENT for name in NAMES)


def names() -> list[str]:
    return [c.name for c in REGISTRY]


def get(name: str) -> Component:
    return next(c for c in REGISTRY if c.name == name)


def of_service(service: str, active: str = "blue") -> Component | None:
    """The component that runs a compose service (gateway-green: the gateway)."""
    return next((c for c in REGISTRY if service in c.service_names(active) or service == c.name), None)


def published(settings: StackSettings) -> list[tuple[Component, str, int, str]]:
    """(component, bind address, port, setting) for every host port an enabled component publishes."""
    return [
        (c, bind, port, setting)
        for c in REGISTRY
        if c.ports is not None and c.enabled(settings)
        for bind, port, setting in c.ports(settings)
    ]


def published_ports(settings: StackSettings) -> list[tuple[str, int, str]]:
    """(bind address, port, setting) of every host port the stack publishes (what validation checks)."""
    return [(bind, port, setting) for _c, bind, port, setting in published(settings)]
