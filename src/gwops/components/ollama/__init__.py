"""Ollama on the host network (`backends.ollama` in config/stack.yaml), its models in
`models_dir`. No offline build: the official image must be on the host (`docker pull`, or
`bin/ops images load`); without it `up` says so in one line and runs the rest."""

from gwops.components.base import Component
from gwops.components.model_servers import enabled

COMPONENT = Component(
    name="ollama",
    package=__name__,
    description="Ollama (host network)",
    enabled=enabled("ollama"),
)
