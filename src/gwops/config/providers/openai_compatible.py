"""Any OpenAI-compatible server: `openai/` with the base URL exactly as given."""

from gwops.config.providers import ProviderProbe, ProviderType, common_params, container_url, key_param, register


def build(provider_id, provider, model):
    return {
        "model": f"openai/{model.name}",
        "api_base": container_url(provider.base_url or ""),
        **key_param(provider, default="none"),
        **common_params(provider, model),
    }


# the base URL is taken as given (it may or may not end in /v1): its models are at base + /models
register(ProviderType("openai_compatible", build, probe=ProviderProbe(v1=False)))
