"""Anthropic's hosted API; the key comes from the environment variable named in `api_key_env`."""

from gwops.config.providers import ProviderType, hosted, register

register(ProviderType("anthropic", hosted("anthropic"), needs_base_url=False, needs_key=True))
