"""`config import` round trip: compiling the imported sources gives back an equivalent config."""

from pathlib import Path

import pytest

from gwops.config.importer import import_file
from gwops.config.pipeline import compile_sources

pytestmark = pytest.mark.unit
SRC = Path(__file__).resolve().parents[1] / "fixtures" / "import-litellm.config.yaml"


def resolve(config: dict) -> dict[str, set]:
    """requested name -> set of (model, api_base) it reaches, following aliases."""
    aliases = config.get("router_settings", {}).get("model_group_alias", {})
    out: dict[str, set] = {}
    for e in config["model_list"]:
        p = e["litellm_params"]
        out.setdefault(e["model_name"], set()).add((p["model"].replace("ollama/", "ollama_chat/"), p.get("api_base")))
    for alias, target in aliases.items():
        out[alias] = out[target]
    return out


def fallbacks(config: dict) -> dict[str, list]:
    aliases = config.get("router_settings", {}).get("model_group_alias", {})
    fb = {}
    for entry in config.get("router_settings", {}).get("fallbacks", []):
        fb.update(entry)
    back = {v: k for k, v in aliases.items()}
    return {back.get(k, k): [back.get(x, x) for x in v] for k, v in fb.items()}


def test_round_trip(tmp_path):
    import yaml

    original = yaml.safe_load(SRC.read_text())
    result = import_file(SRC)
    (tmp_path / "providers.yaml").write_text(result.providers_yaml)
    (tmp_path / "model-mappings.yaml").write_text(result.mappings_yaml)
    compiled = compile_sources(tmp_path, naming="any", env={"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y"})
    got, want = resolve(compiled.config), resolve(original)
    for name, targets in want.items():
        assert got[name] == targets, name
    assert fallbacks(compiled.config) == fallbacks(original)
    assert compiled.config["router_settings"]["num_retries"] == 3


def test_literal_key_not_copied(tmp_path):
    src = tmp_path / "c.yaml"
    src.write_text(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n"
        "      api_key: sk-live-abcdefghijklmnopqrstuvwxyz\n"
    )
    result = import_file(src)
    assert "sk-live" not in result.providers_yaml and "OPENAI_API_KEY" in result.providers_yaml
    assert any("literal key" in n for n in result.notes)
