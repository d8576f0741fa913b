"""Bad input through the real CLI: a message with file:line, exit code 2, no traceback, no writes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "state").mkdir()
    shutil.copy(REPO / "docker-compose.yml", root)
    return root


def ops(root, *args):
    env = {**os.environ, "GWOPS_ROOT": str(root), "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "gwops.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


BAD = {
    "empty-list": b"- a\n- b\n",
    "binary": b"\x00\x01\x02\x03",
    "latin1": "providers:\n  caf\xe9: {}\n".encode("latin-1"),
    "syntax": b"providers:\n  x: [\n",
    "deep": b"providers: " + b"[" * 500 + b"]" * 500 + b"\n",
    "huge": b"# " + b"x" * (10 * 1024 * 1024) + b"\n",
    "wrong-type": b"providers:\n  x:\n    type: ollama\n    models: 5\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_broken_providers_file(project, case):
    (project / "config/providers.yaml").write_bytes(BAD[case])
    before = sorted(p.name for p in (project / "state").iterdir())
    res = ops(project, "validate")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert "config/providers.yaml" in res.stderr and "next:" in res.stderr
    gen = ops(project, "generate")
    assert gen.returncode == 2 and "Traceback" not in gen.stderr
    assert sorted(p.name for p in (project / "state").iterdir()) == before  # nothing written


def test_validate_json_lists_every_problem(project):
    (project / "config/providers.yaml").write_text("providers:\n  o:\n    typ: ollama\n    modles: []\n")
    res = ops(project, "validate", "--json")
    assert res.returncode == 2
    out = json.loads(res.stdout)
    assert out["valid"] is False
    msgs = {(p["line"], p["message"]) for p in out["problems"]}
    assert (3, "unknown key `typ`") in msgs and (4, "unknown key `modles`") in msgs


def test_generate_check_detects_hand_edit(project):
    assert ops(project, "generate").returncode == 0
    assert ops(project, "generate", "--check").returncode == 0
    cfg = project / "state/litellm.config.yaml"
    cfg.write_text(cfg.read_text() + "# edited\n")
    res = ops(project, "generate", "--check")
    assert res.returncode == 1 and "edited by hand" in res.stderr
    diff = ops(project, "generate", "--diff")
    assert "-# edited" in diff.stdout


def test_routes_explain_precedence(project):
    shutil.copy(REPO / "tests/golden/full/providers.yaml", project / "config")
    shutil.copy(REPO / "tests/golden/full/model-mappings.yaml", project / "config")
    (project / ".env").write_text("OPENAI_API_KEY=x\nANTHROPIC_API_KEY=y\n")
    rules = {}
    for name in ("llama3", "code_generation", "qwen3:14b", "mistral"):
        res = ops(project, "routes", "explain", name, "--json")
        assert res.returncode == 0, res.stderr
        rules[name] = json.loads(res.stdout)["rule"]
    assert rules == {"llama3": "exact", "code_generation": "capability", "qwen3:14b": "pattern", "mistral": "default"}
    rows = json.loads(ops(project, "routes", "--json").stdout)
    assert {r["name"]: r.get("alias_of") for r in rows}["coder"] == "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ"


def test_a_table_written_to_a_pipe_cuts_no_name_and_has_no_colour(project):
    """`bin/ops routes | cat`, cron's mail, a CI log: not a terminal, so no width to fit (rich
    would cut the names of this table at 80 columns)."""
    long = "organisation-name/a-very-long-model-name-that-makes-the-table-wide-v2-instruct-awq"
    (project / "config/providers.yaml").write_text(
        f"providers:\n  lab:\n    type: mock\n    models: [{long}, streaming-model]\n"
    )
    res = ops(project, "routes")
    assert res.returncode == 0, res.stderr
    for name in (long, f"lab/openai/{long}", "streaming-model"):
        assert f" {name} " in res.stdout, f"`{name}` is cut in:\n{res.stdout}"
    assert "\u2026" not in res.stdout and "\x1b[" not in res.stdout


def test_rollback_restores_previous_version(project):
    assert ops(project, "generate").returncode == 0
    first = (project / "state/litellm.config.yaml").read_text()
    (project / "config/model-mappings.yaml").write_text("router_settings:\n  num_retries: 5\n")
    # history file names carry the second: make sure the second version gets its own name
    for f in (project / "state/config-history").iterdir():
        f.rename(f.with_name("20000101T000000Z-" + f.name.split("-", 1)[1]))
    assert ops(project, "generate").returncode == 0
    assert (project / "state/litellm.config.yaml").read_text() != first
    res = ops(project, "config", "rollback")
    assert res.returncode == 0, res.stderr
    assert (project / "state/litellm.config.yaml").read_text() == first


def test_malformed_base_url_exit_2_and_nothing_written(project):
    cfg = project / "config/providers.yaml"
    cfg.write_text("providers:\n  vllm:\n    type: vllm\n    base_url: http://localhost:8001\n    models: [m]\n")
    assert ops(project, "generate").returncode == 0
    before = {p: p.read_bytes() for p in (project / "state").rglob("*") if p.is_file()}
    cfg.write_text(cfg.read_text().replace("http://localhost:8001", '"localhost:80:01/x y"'))
    for cmd in ("validate", "generate"):
        res = ops(project, cmd)
        assert res.returncode == 2, res.stderr
        assert "config/providers.yaml:4:5: `base_url` 'localhost:80:01/x y' is not a usable URL" in res.stderr
    assert {p: p.read_bytes() for p in (project / "state").rglob("*") if p.is_file()} == before


def test_seed_example_validates_and_explains_resolved_fallback(project):
    for name in ("providers.yaml", "model-mappings.yaml"):
        shutil.copy(REPO / "tests/fixtures/seed-001" / name, project / "config")
    res = ops(project, "validate")
    assert res.returncode == 0, res.stderr
    assert (
        "- config/model-mappings.yaml:5: fallback target `vllm` of `llama3.1:8b` is a provider: "
        "resolved to its model `Qwen2.5-Coder-7B-Instruct-AWQ` (its first model)"
    ) in res.stderr
    option = ops(project, "routes", "--explain", "llama3.1:8b")
    assert option.returncode == 0, option.stderr
    assert "  fallbacks: Qwen2.5-Coder-7B-Instruct-AWQ\n" in option.stdout
    assert "`vllm` is a provider: resolved to `Qwen2.5-Coder-7B-Instruct-AWQ`" in option.stdout
    assert ops(project, "routes", "explain", "llama3.1:8b").stdout == option.stdout


def test_usage_error_names_bin_ops(project):
    res = ops(project, "images", "--bogus")
    assert res.returncode == 2
    assert "Try 'bin/ops images --help' for help." in res.stderr and "python -m" not in res.stderr
