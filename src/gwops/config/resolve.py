"""A provider named where a model is expected (fallback chains, capability lists).

Seed 001 documents `fallback_chain: ["vllm"]` as "if this fails, go to that provider". LiteLLM
falls back to model groups, not providers, so the compiler picks one concrete model on that
provider: the same model name where the provider serves it, else its `default_model:`, else
its first model. Every such choice is recorded, so `validate` and `routes --explain` can say it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """The route a reference belongs to."""

    key: str  # its name in the generated config (a model, capability or pattern)
    label: str  # as written in model-mappings.yaml


@dataclass(frozen=True)
class Resolution:
    """One provider that stands for a model, and the model it resolved to."""

    route: Route
    role: str  # "fallback target" or "capability member"
    provider_id: str
    model: str
    why: str
    where: str  # file:line of the reference

    def note(self) -> str:
        return (
            f"{self.where}: {self.role} `{self.provider_id}` of `{self.route.label}` is a provider: "
            f"resolved to its model `{self.model}` ({self.why})"
        )

    def explain(self) -> str:
        return f"{self.role} `{self.provider_id}` is a provider: resolved to `{self.model}` ({self.why})"


def pick_model(served: Sequence[str], same: Sequence[str], default: str | None) -> tuple[str, str] | None:
    """The model a provider stands for, and why; None when it serves none."""
    for name in same:
        if name in served:
            return name, f"it serves `{name}` too, in the same load-balanced group: retries reach it"
    if default:
        return default, "its `default_model`"
    if served:
        return served[0], "its first model"
    return None
