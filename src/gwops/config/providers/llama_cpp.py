"""llama.cpp's `llama-server` (OpenAI-compatible): `openai/` with a `/v1` base, no key needed."""

from gwops.config.providers import (
    ProviderProbe,
    ProviderType,
    common_params,
    container_url,
    key_param,
    register,
    with_v1,
)


def build(provider_id, provider, model):
    return {
        "model": f"openai/{model.name}",
        "api_base": with_v1(container_url(provider.base_url or "")),
        # the OpenAI client insists on a key; llama-server ignores it unless started with --api-key
        **key_param(provider, default="none"),
        **common_params(provider, model),
    }


register(ProviderType("llama_cpp", build, probe=ProviderProbe(any_name=True)))
