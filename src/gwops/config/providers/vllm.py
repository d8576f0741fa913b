"""vLLM's OpenAI-compatible server: LiteLLM's `hosted_vllm/` route with a `/v1` base."""

from gwops.config.providers import ProviderType, common_params, container_url, key_param, register, with_v1


def build(provider_id, provider, model):
    return {
        "model": f"hosted_vllm/{model.name}",
        "api_base": with_v1(container_url(provider.base_url or "")),
        **key_param(provider),
        **common_params(provider, model),
    }


register(ProviderType("vllm", build))
