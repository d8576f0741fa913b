"""Anthropic's hosted API; the key comes from the environment variable named in `api_key_env`."""

from gwops.config.providers import ProviderType, common_params, key_param, register


def build(provider_id, provider, model):
    params = {"model": f"anthropic/{model.name}", **key_param(provider)}
    if provider.base_url:
        params["api_base"] = provider.base_url
    return {**params, **common_params(provider, model)}


register(ProviderType("anthropic", build, needs_base_url=False, needs_key=True))
