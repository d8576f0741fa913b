"""What the model servers run by the stack share (llama_cpp, ollama, vllm): each is on with
`backends.<name>.enabled` in config/stack.yaml, runs on the host network (they serve other host
clients too, and need the host's GPUs) and is gated before the gateway starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gwops.settings import ModelServerSettings, StackSettings


def setting(name: str):
    def of(settings: StackSettings) -> ModelServerSettings:
        return getattr(settings.backends, name)

    return of


def enabled(name: str):
    return lambda settings: setting(name)(settings).enabled
