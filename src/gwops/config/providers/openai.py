"""OpenAI's hosted API; the key comes from the environment variable named in `api_key_env`."""

from gwops.config.providers import ProviderType, hosted, register

register(
    ProviderType(
        "openai", hosted("openai"), needs_base_url=False, needs_key=True, default_base_url="https://api.openai.com/v1"
    )
)
