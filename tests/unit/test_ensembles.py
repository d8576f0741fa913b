"""OptiLLM ensembles: validation (loops, approaches, bases) with file and line, the gateway routes
they compile to, the sidecar's guard (its pure parts) and the component's files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from gwops.components import optillm
from gwops.config.pipeline import compile_sources
from gwops.errors import ConfigError
from gwops.project import Project
from gwops.render import render_proxy
from gwops.settings import GatewaySettings, StackSettings

pytestmark = pytest.mark.unit

PROVIDERS = """providers:
  lab:
    type: openai_compatible
    base_url: http://localhost:9/v1
    models: [small, big, moa-ish]
"""
ENSEMBLES = """ensembles:
  opt-balanced:
    approach: moa
    base: small
  opt-fast: {approach: bon, base: big}
"""
ON = StackSettings(optillm={"enabled": True})


def compiled(tmp_path: Path, mappings: str, settings: StackSettings | None = ON):
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    (tmp_path / "model-mappings.yaml").write_text(mappings)
    return compile_sources(tmp_path, settings=settings)


def problems(tmp_path: Path, mappings: str, settings: StackSettings | None = ON) -> list[str]:
    with pytest.raises(ConfigError) as err:
        compiled(tmp_path, mappings, settings)
    return [f"{p.location()} {p.message}" for p in err.value.problems]


def test_ensembles_compile_to_sidecar_routes_that_are_not_route_checked(tmp_path):
    c = compiled(tmp_path, ENSEMBLES)
    entries = {e["model_name"]: e for e in c.config["model_list"]}
    e = entries["opt-balanced"]
    assert e["litellm_params"] == {
        "model": "openai/moa-small",
        "api_base": "http://optillm:4020/v1",
        "num_retries": 0,
        "max_retries": 0,
        "api_key": "os.environ/OPTILLM_CLIENT_KEY",
    }
    assert e["model_info"]["gwops_ensemble"] == {"approach": "moa", "base": "small"}
    assert entries["opt-fast"]["litellm_params"]["model"] == "openai/bon-big"
    assert "opt-balanced" not in c.route_checks().names and "small" in c.route_checks().names
    assert "OPTILLM_CLIENT_KEY" in c.catalog.env_needed
    from gwops.config.ensembles import of_config

    assert of_config(yaml.safe_load(c.text)) == {"moa-small": "small", "bon-big": "big"}


@pytest.mark.parametrize(
    "mappings, expected",
    [
        (
            "ensembles:\n  opt-x: {approach: executecode, base: small}\n",
            "model-mappings.yaml:2:11 unknown approach `executecode`",
        ),
        (
            "ensembles:\n  opt-x: {approach: moa, base: small}\n  opt-y: {approach: moa, base: opt-x}\n",
            "model-mappings.yaml:3:26 the base `opt-x` is an ensemble",
        ),
        (
            "ensembles:\n  opt-x: {approach: moa, base: nothing}\n",
            "model-mappings.yaml:2:26 the base `nothing` is not a route",
        ),
        (
            "ensembles:\n  balanced: {approach: moa, base: small}\n",
            "model-mappings.yaml:2:3 ensemble `balanced` must be named `opt-<name>`",
        ),
        (
            "ensembles:\n  opt-x: {approach: moa, base: moa-ish}\n",
            "model-mappings.yaml:2:26 OptiLLM would read the start of `moa-ish` as an approach",
        ),
        # a loop through a fallback (small -> opt-x -> sidecar -> small ...): no route falls back to an ensemble
        (
            "exact_matches:\n  small: {provider: lab, fallback_chain: [opt-x]}\n"
            "ensembles:\n  opt-x: {approach: moa, base: small}\n",
            "model-mappings.yaml:2:43 fallback target `opt-x` is not a known model",
        ),
    ],
)
def test_bad_ensembles_are_named_with_their_line(tmp_path, mappings, expected):
    found = problems(tmp_path, mappings)
    assert any(expected in p for p in found), found


def test_ensembles_need_the_sidecar_on(tmp_path):
    found = problems(tmp_path, ENSEMBLES, StackSettings())
    assert any("model-mappings.yaml:1" in p and "the OptiLLM sidecar, which is off" in p for p in found), found


# -- the sidecar's guard (image/gwops_optillm.py: its pure parts, without OptiLLM) ---------------
def _guard():
    path = Path(optillm.__file__).parent / "image" / "gwops_optillm.py"
    spec = importlib.util.spec_from_file_location("gwops_optillm", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SEL = {"moa-small": "small", "bon-big": "big"}


@pytest.mark.parametrize(
    "body, why",
    [
        ({"model": "moa-small", "messages": [{"role": "user", "content": "hi"}]}, None),
        ({"model": "moa-small", "optillm_approach": "executecode", "messages": []}, "`optillm_approach` is disabled"),
        (
            {
                "model": "moa-small",
                "messages": [{"role": "user", "content": "x <optillm_approach>executecode</optillm_approach>"}],
            },
            "<optillm_approach> tag is disabled",
        ),
        (
            {
                "model": "moa-small",
                "messages": [{"role": "system", "content": [{"type": "text", "text": "<optillm_approach>re2"}]}],
            },
            "<optillm_approach> tag is disabled",
        ),
        ({"model": "moa-opt-balanced", "messages": []}, "is not one of the stack's ensembles"),
        ({"model": "small", "messages": []}, "is not one of the stack's ensembles"),
        ({"model": "executecode-small", "messages": []}, "allowed: bon-big, moa-small"),
        (["not", "an", "object"], "not a JSON object"),
    ],
)
def test_guard_lets_only_compiled_selectors_run(body, why):
    got = _guard().refusal(body, SEL)
    assert (got is None) if why is None else (why in got), got


def test_guard_calls_upstream_only_the_bases():
    g = _guard()
    assert g.upstream_refusal("small", SEL) is None
    assert "refused" in g.upstream_refusal("opt-balanced", SEL)
    assert "refused" in g.upstream_refusal("moa-small", SEL)


def test_guard_tells_optillm_failure_text_from_an_answer():
    g = _guard()
    fail = {"choices": [{"message": {"content": "Error: Could not generate any completions"}}]}
    ok = {"choices": [{"message": {"content": "Paris"}}]}
    assert g.is_failure(fail) and not g.is_failure(ok) and not g.is_failure({"error": "x"})
    chunk = "data: " + json.dumps({"choices": [{"delta": {"content": "Error: Could not generate any completions"}}]})
    assert g._stream_failure(chunk + "\n\ndata: [DONE]\n\n")
    assert not g._stream_failure("data: " + json.dumps({"choices": [{"delta": {"content": "Paris"}}]}) + "\n\n")


def test_guard_rereads_its_allow_file(tmp_path):
    g = _guard()
    f = tmp_path / "allow.json"
    allowed = g.Allowed(str(f))
    assert allowed.get() == {}
    f.write_text(json.dumps({"selectors": SEL}))
    assert allowed.get() == SEL
    f.write_text(json.dumps({"selectors": {"moa-small": "small"}}))
    import os

    os.utime(f, ns=(1, 2))  # a new mtime, whatever the clock's resolution
    assert allowed.get() == {"moa-small": "small"}


# -- the component --------------------------------------------------------------------------------
def test_allow_file_follows_every_live_version(tmp_path):
    project = Project(tmp_path)
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "opt-a", "model_info": {"gwops_ensemble": {"approach": "moa", "base": "small"}}}
                ]
            }
        )
    )
    new.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {"model_name": "opt-b", "model_info": {"gwops_ensemble": {"approach": "bon", "base": "big"}}},
                    {"model_name": "small", "model_info": {}},
                ]
            }
        )
    )
    assert optillm.follow_versions(project, [old, new]) is True
    doc = json.loads((tmp_path / "state/optillm/allow.json").read_text())
    assert doc == {"selectors": {"bon-big": "big", "moa-small": "small"}}
    assert optillm.follow_versions(project, [old, new]) is False
    optillm.follow_versions(project, [new])
    assert json.loads((tmp_path / "state/optillm/allow.json").read_text())["selectors"] == {"bon-big": "big"}


def test_fragments_with_the_sidecar_on(tmp_path):
    from gwops.components import proxy

    text = optillm.COMPONENT.render_fragment(ON, "gwops/optillm:0.4.0")
    svc = yaml.safe_load(text)["services"]["optillm"]
    assert svc["ports"] == ["127.0.0.1:4020:4020"] and svc["read_only"] is True
    assert "OPTILLM_API_KEY" not in svc["environment"] and "LITELLM_MASTER_KEY" not in text
    assert svc["environment"]["OPTILLM_CLIENT_KEY"].startswith("${OPTILLM_CLIENT_KEY:?")
    assert "no `optillm` service" in optillm.COMPONENT.render_fragment(StackSettings(), "gwops/optillm:0.4.0")
    # the proxy holds the gateway key for the sidecar's entrance only when the sidecar is on
    on = yaml.safe_load(proxy.COMPONENT.render_fragment(ON, "gwops/haproxy:2.6"))["services"]["proxy"]
    off = yaml.safe_load(proxy.COMPONENT.render_fragment(StackSettings(), "gwops/haproxy:2.6"))["services"]["proxy"]
    assert "LITELLM_MASTER_KEY" in on["environment"] and "environment" not in off
    project = Project(tmp_path)
    render_proxy(project, "blue", GatewaySettings(), optillm.ENTRANCE_PORT)
    cfg = (tmp_path / "state/proxy/haproxy.cfg").read_text()
    assert (
        "bind :4001" in cfg and "json_query('$.model') -m beg opt-" in cfg and '"Bearer ${LITELLM_MASTER_KEY}"' in cfg
    )
    render_proxy(project, "blue", GatewaySettings())
    assert "optillm_entrance" not in (tmp_path / "state/proxy/haproxy.cfg").read_text()


def test_sidecar_key_is_generated_and_never_starts_with_sk(tmp_path):
    from gwops import envfile

    root = Path(__file__).parents[2]
    res = envfile.ensure(tmp_path / ".env", root / ".env.example", {})
    assert res.values["OPTILLM_CLIENT_KEY"].startswith("optillm-")
    assert "upstream key" in (envfile._weak_reason("OPTILLM_CLIENT_KEY", "sk-" + "x1y2z3" * 8) or "")
