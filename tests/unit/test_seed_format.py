"""The seed document's (001, ai-backend-unified) config examples: each compiles, or is refused
with what to write instead. A provider named where a model is expected resolves to one of its
models, and says so."""

import os
from pathlib import Path

import pytest

from gwops.config.pipeline import compile_sources
from gwops.config.routes import explain
from gwops.errors import ConfigError

pytestmark = pytest.mark.unit
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed-001"
QWEN = "Qwen2.5-Coder-7B-Instruct-AWQ"


def fallbacks(compiled) -> dict[str, list[str]]:
    return {k: v for e in compiled.config["router_settings"].get("fallbacks", []) for k, v in e.items()}


def compile_in(tmp_path, providers: str, mappings: str):
    (tmp_path / "providers.yaml").write_text(providers)
    (tmp_path / "model-mappings.yaml").write_text(mappings)
    return compile_sources(tmp_path, env={})


def problems_in(tmp_path, providers: str, mappings: str):
    with pytest.raises(ConfigError) as info:
        compile_in(tmp_path, providers, mappings)
    return info.value.problems


SEED_PROVIDERS = (SEED / "providers.yaml").read_text()


def test_seed_example_verbatim_golden():
    """The two example files of the seed's "Configuration Files" section, copied unchanged."""
    compiled = compile_sources(SEED, env={})
    expected = SEED / "expected.litellm.config.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(compiled.text)
    assert compiled.text == expected.read_text()
    assert fallbacks(compiled) == {"llama3.1:8b": [QWEN], "qwen*": ["llama3.1:8b"]}
    assert compiled.notes == [
        f"config/model-mappings.yaml:5: fallback target `vllm` of `llama3.1:8b` is a provider: "
        f"resolved to its model `{QWEN}` (its first model)",
        "config/model-mappings.yaml:7: fallback target `ollama` of `qwen*` is a provider: "
        "resolved to its model `llama3.1:8b` (its first model)",
    ]


def test_explain_says_what_the_provider_resolved_to():
    res = explain(compile_sources(SEED, env={}), "llama3.1:8b")
    assert res["fallbacks"] == [QWEN]
    assert res["resolved"] == [f"fallback target `vllm` is a provider: resolved to `{QWEN}` (its first model)"]
    assert explain(compile_sources(SEED, env={}), "qwen-x")["resolved"][0].startswith("fallback target `ollama`")


TWO = """providers:
  ollama:
    type: ollama
    models: [a, b]
  vllm:
    type: vllm
    base_url: http://h:1
    models: [q1, q2]
"""


def test_explicit_default_model_wins_over_first(tmp_path):
    src = TWO + "    default_model: q2\n"
    compiled = compile_in(tmp_path, src, "exact_matches:\n  a: {provider: ollama, fallback_chain: [vllm]}\n")
    assert fallbacks(compiled) == {"a": ["q2"]}
    assert "(its `default_model`)" in compiled.notes[0]


def test_unknown_default_model_refused_at_its_line(tmp_path):
    [p] = problems_in(tmp_path, TWO + "    default_model: q3\n", "")
    assert (p.file, p.line) == ("config/providers.yaml", 9)
    assert "`q3` is not a model of provider `vllm`" in p.message and "`q1`" in p.hint


def test_provider_in_every_chain_position(tmp_path):
    """Pattern chains, the `fallback_chains` section and capability lists all take a provider."""
    mappings = (
        'patterns:\n  "x*": {provider: ollama, fallback_chain: [vllm]}\n'
        "fallback_chains:\n  b: [vllm]\n"
        "capabilities:\n  coding: [vllm, a]\n  chat: {provider: ollama}\n"
    )
    compiled = compile_in(tmp_path, TWO, mappings)
    assert fallbacks(compiled) == {"x*": ["q1"], "b": ["q1"], "coding": ["a"]}
    assert compiled.catalog.capabilities == {"coding": ["q1", "a"], "chat": ["a"]}
    assert len(compiled.notes) == 4


def test_disabled_provider_in_chain_names_the_route(tmp_path):
    src = TWO.replace("    base_url: http://h:1\n", "    base_url: http://h:1\n    status: disabled\n")
    [p] = problems_in(tmp_path, src, "exact_matches:\n  a:\n    provider: ollama\n    fallback_chain: [vllm]\n")
    assert p.message == ("fallback target `vllm` of `a` is a provider, and it is `disabled` (providers.yaml line 8)")
    assert (p.line, p.path) == (4, "exact_matches.a.fallback_chain[0]")


def test_provider_serving_no_model_names_the_route(tmp_path):
    src = TWO.replace("models: [q1, q2]", "models: []")
    [p] = problems_in(tmp_path, src, 'patterns:\n  "x*": {provider: ollama, fallback_chain: [vllm]}\n')
    assert p.message == "fallback target `vllm` of `x*` is a provider, and it serves no model"


def test_name_both_provider_and_model_is_ambiguous(tmp_path):
    src = TWO.replace("models: [a, b]", "models: [a, vllm]")
    [p] = problems_in(tmp_path, src, "fallback_chains:\n  a: [vllm]\n")
    assert "`vllm` is both a provider (config/providers.yaml:5) and a model (config/providers.yaml:4)" in p.message
    assert (p.file, p.line) == ("config/model-mappings.yaml", 2)


def test_own_provider_in_chain_refused(tmp_path):
    [p] = problems_in(tmp_path, TWO, "exact_matches:\n  a: {provider: ollama, fallback_chain: [ollama]}\n")
    assert p.message == "fallback target `ollama` is the provider of `a` itself"


def test_other_provider_of_a_load_balanced_group_is_noted_not_chained(tmp_path):
    src = TWO + "  ollama2:\n    type: ollama\n    base_url: http://gpu2:11434\n    models: [a]\n"
    compiled = compile_in(
        tmp_path, src, "load_balanced:\n  a: [ollama, ollama2]\nfallback_chains:\n  a: [ollama2, vllm]\n"
    )
    assert fallbacks(compiled) == {"a": ["q1"]}
    assert "same load-balanced group" in compiled.notes[0]


def test_provider_as_chain_source_refused_with_what_to_write(tmp_path):
    [p] = problems_in(tmp_path, TWO, "fallback_chains:\n  vllm: [a]\n")
    assert "`vllm` is a provider, and a chain starts from a model" in p.message
    assert "`q1: [...]`" in p.hint


# -- the other snippets of the seed document -------------------------------------------------

SERVED = SEED_PROVIDERS + (
    '      - name: "qwen2.5-coder:7b"\n      - name: "qwen-coder-vllm"\n      - name: "dolphin-uncensored-vllm"\n'
)
FALLBACK_CHAINS = """fallback_chains:
  "llama3.1:latest":
    chain:
      - qwen2.5-coder:7b      # Secondary
      - qwen-coder-vllm        # Tertiary
      - dolphin-uncensored-vllm # Last resort
"""


def test_seed_fallback_chains_section(tmp_path):
    compiled = compile_in(tmp_path, SERVED.replace('"llama3.1:8b"', '"llama3.1:latest"'), FALLBACK_CHAINS)
    assert fallbacks(compiled) == {
        "llama3.1:latest": ["qwen2.5-coder:7b", "qwen-coder-vllm", "dolphin-uncensored-vllm"]
    }
    [p] = problems_in(tmp_path, SEED_PROVIDERS, FALLBACK_CHAINS)
    assert "`llama3.1:latest` is not a known model" in p.message and p.hint == "did you mean `llama3.1:8b`?"


def test_seed_capability_list(tmp_path):
    caps = 'capabilities:\n  code_generation: ["qwen2.5-coder:7b", "qwen-coder-vllm"]\n'
    compiled = compile_in(tmp_path, SERVED, caps)
    assert compiled.catalog.capabilities == {"code_generation": ["qwen2.5-coder:7b", "qwen-coder-vllm"]}
    ps = problems_in(tmp_path, SEED_PROVIDERS, caps)
    assert [p.message for p in ps] == [
        "capability member `qwen2.5-coder:7b` is not a known model",
        "capability member `qwen-coder-vllm` is not a known model",
    ]


@pytest.mark.parametrize("pattern", ['"^Qwen/.*": vllm', '"^Qwen/.*": {provider: vllm}'])
def test_seed_regex_pattern(tmp_path, pattern):
    compiled = compile_in(tmp_path, SEED_PROVIDERS, f"patterns:\n  {pattern}\n")
    assert explain(compiled, "Qwen/Qwen3-8B")["rule"] == "pattern"


def test_seed_exact_match_name_to_provider(tmp_path):
    compiled = compile_in(tmp_path, SEED_PROVIDERS, 'exact_matches:\n  "llama3.1:8b": ollama\n')
    assert explain(compiled, "llama3.1:8b")["rule"] == "exact"
    [p] = problems_in(tmp_path, SEED_PROVIDERS, 'exact_matches:\n  "llama3.1:latest": ollama\n')
    assert p.message == "provider `ollama` has no model `llama3.1:latest`" and "`backend_model:`" in p.hint


def test_seed_routing_rules_default_provider(tmp_path):
    compiled = compile_in(tmp_path, SEED_PROVIDERS, "routing_rules:\n  default_provider: ollama\n")
    assert explain(compiled, "anything")["rule"] == "default"


@pytest.mark.parametrize(
    ("snippet", "hint"),
    [
        ("rate_limits:\n  ollama: {rpm: 100, tpm: 50000}\n", "`rpm:` and `tpm:` under `providers.<id>.models[]`"),
        ('cache_params:\n  type: "redis"\n  ttl: 3600\n', "`router_settings: {caching: {enabled: true, ttl: 3600}}`"),
    ],
)
def test_seed_snippets_of_other_files_refused_with_what_to_write(tmp_path, snippet, hint):
    [p] = problems_in(tmp_path, SEED_PROVIDERS, snippet)
    assert p.message.startswith("unknown key") and hint in p.hint and p.line == 1


def test_seed_rate_limits_on_models_compile(tmp_path):
    src = SEED_PROVIDERS.replace('quantization: "Q4"', 'quantization: "Q4"\n        rpm: 100\n        tpm: 50000')
    compiled = compile_in(tmp_path, src, "")
    [entry] = [e for e in compiled.config["model_list"] if e["model_name"] == "llama3.1:8b"]
    assert (entry["litellm_params"]["rpm"], entry["litellm_params"]["tpm"]) == (100, 50000)
