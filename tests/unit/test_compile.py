"""Golden files and the consistency checks of the config compiler."""

import os
import shutil
from pathlib import Path

import pytest

from gwops.config.pipeline import compile_sources
from gwops.errors import ConfigError

pytestmark = pytest.mark.unit
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ENV = {"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y"}


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden(case):
    compiled = compile_sources(GOLDEN / case, env=ENV)
    expected = GOLDEN / case / "expected.litellm.config.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(compiled.text)
    assert compiled.text == expected.read_text()


def test_same_inputs_same_bytes():
    a = compile_sources(GOLDEN / "full", env=ENV)
    b = compile_sources(GOLDEN / "full", env=ENV)
    assert a.text == b.text and a.sha256 == b.sha256


def test_the_database_pool_is_emitted_for_litellm_to_use():
    """LiteLLM writes `general_settings.database_connection_pool_limit` (its default 10) into
    DATABASE_URL over the URL's own `connection_limit`: the stack's pool must be said there."""
    from gwops.settings import StackSettings

    on = compile_sources(GOLDEN / "full", env=ENV, settings=StackSettings(database={"pool": 3}))
    assert on.config["general_settings"]["database_connection_pool_limit"] == 3
    off = compile_sources(GOLDEN / "full", env=ENV, settings=StackSettings(database={"enabled": False}))
    assert "database_connection_pool_limit" not in off.config["general_settings"]


def problems_for(tmp_path, providers: str, mappings: str = "", env=ENV):
    (tmp_path / "providers.yaml").write_text(providers)
    (tmp_path / "model-mappings.yaml").write_text(mappings)
    with pytest.raises(ConfigError) as info:
        compile_sources(tmp_path, env=env)
    return info.value.problems


BASE = """providers:
  ollama:
    type: ollama
    models:
      - name: a
      - name: b
  off:
    type: vllm
    base_url: http://x:1
    status: disabled
    models: [c]
"""


def test_fallback_cycle_printed_as_cycle(tmp_path):
    ps = problems_for(tmp_path, BASE, "fallback_chains:\n  a: [b]\n  b: [a]\n")
    assert any("fallback cycle: a -> b -> a" in p.message for p in ps)
    assert all(p.line > 0 for p in ps)


def test_reference_to_disabled_provider_is_reported(tmp_path):
    [p] = problems_for(tmp_path, BASE, "fallback_chains:\n  a:\n    chain: [c]\n")
    assert "`off`" in p.message and "disabled" in p.message
    assert (p.file, p.line) == ("config/model-mappings.yaml", 3)


def test_unknown_fallback_target_did_you_mean(tmp_path):
    [p] = problems_for(tmp_path, BASE, "fallback_chains:\n  a: [bb]\n")
    assert "`bb` is not a known model" in p.message and "`b`" in p.hint


def test_same_public_name_from_two_providers(tmp_path):
    src = BASE + "  other:\n    type: ollama\n    models: [a]\n"
    [p] = problems_for(tmp_path, src)
    assert "also served by provider `ollama`" in p.message and "load_balanced" in p.hint
    assert p.line == 14


def test_literal_secret_refused(tmp_path):
    src = "providers:\n  o:\n    type: openai\n    api_key: sk-abcdefghijklmnopqrstuvwxyz123456\n    models: [m]\n"
    ps = problems_for(tmp_path, src)
    assert any("a key is written in the YAML" in p.message and p.line == 4 for p in ps)


def test_missing_env_var_named(tmp_path):
    src = "providers:\n  o:\n    type: openai\n    api_key_env: MY_KEY\n    models: [m]\n"
    [p] = problems_for(tmp_path, src, env={})
    assert "`MY_KEY` is not set in `.env`" in p.message


def test_unknown_key_did_you_mean_with_line(tmp_path):
    [p] = problems_for(tmp_path, "providers:\n  o:\n    type: ollama\n    modles: [m]\n")
    assert p.message == "unknown key `modles`" and p.hint == "did you mean `models`?" and p.line == 4


def test_unknown_provider_type(tmp_path):
    [p] = problems_for(tmp_path, "providers:\n  o:\n    type: olama\n    models: [m]\n")
    assert "unknown provider type `olama`" in p.message and "`ollama`" in p.hint


def test_every_problem_reported_not_just_first(tmp_path):
    ps = problems_for(tmp_path, BASE, "fallback_chains:\n  a: [zz]\n  b: [yy]\nexact_matches:\n  q: {provider: nope}\n")
    assert len(ps) == 3


def test_kebab_case_aliases(tmp_path):
    [p] = problems_for(
        tmp_path, "providers:\n  o:\n    type: ollama\n    models:\n      - name: m\n        aliases: [My_Alias]\n"
    )
    assert "kebab-case" in p.message and "`my-alias`" in p.hint


def test_seed_shape_loads(tmp_path):
    """The shape documented by the project we replace loads as it is."""
    (tmp_path / "providers.yaml").write_text(
        'providers:\n  ollama:\n    type: "ollama"\n    base_url: "http://localhost:11434"\n    status: "active"\n'
        '    models:\n      - name: "llama3.1:8b"\n        quantization: "Q4"\n'
        '  vllm:\n    type: "vllm"\n    base_url: "http://localhost:8001"\n    status: "active"\n'
        '    models:\n      - name: "Qwen2.5-Coder-7B-Instruct-AWQ"\n'
    )
    (tmp_path / "model-mappings.yaml").write_text(
        'routes:\n  exact_matches:\n    "llama3.1:8b":\n      provider: "ollama"\n'
        '  patterns:\n    "qwen*":\n      provider: "vllm"\n'
        "routing_rules:\n  default_provider: ollama\n"
    )
    compiled = compile_sources(tmp_path, env={})
    assert {"llama3.1:8b", "Qwen2.5-Coder-7B-Instruct-AWQ", "qwen*", "*"} <= {
        e["model_name"] for e in compiled.config["model_list"]
    }


def test_empty_sources_give_builtin_model(tmp_path):
    compiled = compile_sources(tmp_path / "missing", env={})
    assert compiled.route_names() == ["gwops-echo"]
    assert compiled.config["model_list"][0]["litellm_params"]["mock_response"]


def test_localhost_means_the_host(tmp_path):
    shutil.copy(GOLDEN / "full" / "providers.yaml", tmp_path)
    (tmp_path / "model-mappings.yaml").write_text("load_balanced:\n  llama3.1:8b: [ollama, ollama-gpu2]\n")
    compiled = compile_sources(tmp_path, env=ENV)
    bases = {e["litellm_params"].get("api_base") for e in compiled.config["model_list"]}
    assert "http://host.docker.internal:11434" in bases
    assert not any(b and ("localhost" in b or "127.0.0.1" in b) for b in bases)


def test_with_monitoring_off_the_gateway_runs_no_prometheus_callback():
    from gwops.settings import StackSettings

    on = compile_sources(GOLDEN / "full", env=ENV, settings=StackSettings())
    off = compile_sources(
        GOLDEN / "full", env=ENV, settings=StackSettings.model_validate({"monitoring": {"enabled": False}})
    )
    assert on.config["litellm_settings"]["callbacks"] == ["prometheus"]
    assert "callbacks" not in off.config["litellm_settings"]
    assert off.config["model_list"] == on.config["model_list"]
