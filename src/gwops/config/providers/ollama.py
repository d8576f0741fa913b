"""Ollama on the host: LiteLLM's `ollama_chat/` route (chat API, tool calls)."""

from gwops.config.providers import ProviderProbe, ProviderType, common_params, container_url, register


def build(provider_id, provider, model):
    return {
        "model": f"ollama_chat/{model.name}",
        "api_base": container_url(provider.base_url or "http://localhost:11434"),
        **common_params(provider, model),
    }


register(
    ProviderType(
        "ollama",
        build,
        needs_base_url=False,
        default_base_url="http://localhost:11434",
        probe=ProviderProbe("/api/tags", "models", "name", v1=False),
    )
)
