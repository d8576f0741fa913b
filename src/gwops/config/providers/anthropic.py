"""Anthropic's hosted API; the key comes from the environment variable named in `api_key_env`."""

from gwops.config.providers import ProviderProbe, ProviderType, hosted, register

register(
    ProviderType(
        "anthropic",
        hosted("anthropic"),
        needs_base_url=False,
        needs_key=True,
        default_base_url="https://api.anthropic.com",
        probe=ProviderProbe(
            "/v1/models", v1=False, key_header="x-api-key", extra_headers=(("anthropic-version", "2023-06-01"),)
        ),
    )
)
