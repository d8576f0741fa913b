"""vLLM's OpenAI-compatible server on the host network (`backends.vllm` in config/stack.yaml),
on the host's GPUs, reading models from the Hugging Face cache in `models_dir` (offline). No
offline build: the official image must be on the host; without it `up` says so in one line."""

from gwops.components.base import Component
from gwops.components.model_servers import enabled

COMPONENT = Component(
    name="vllm",
    package=__name__,
    description="vLLM (host network, GPU)",
    enabled=enabled("vllm"),
)
