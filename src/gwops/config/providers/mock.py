"""A model that answers without any provider (LiteLLM's `mock_response`).

Used by the embedded default config and by tests; `options.mock_response` sets the answer.
"""

from gwops.config.providers import ProviderType, common_params, register

DEFAULT_ANSWER = "Hello from the gwops gateway: this built-in model answers without any provider."


def build(provider_id, provider, model):
    params = {"model": f"openai/{model.name}", "mock_response": DEFAULT_ANSWER}
    return {**params, **common_params(provider, model)}


register(ProviderType("mock", build, needs_base_url=False, probe=None))
