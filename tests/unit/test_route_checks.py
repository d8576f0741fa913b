"""Optional and required providers: which routes a failed check may leave degraded."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwops import routecheck
from gwops.components import published_ports
from gwops.config.pipeline import compile_sources
from gwops.errors import HealthError
from gwops.health import Health
from gwops.routecheck import RouteChecks
from tests import fakes

pytestmark = pytest.mark.unit

PROVIDERS = """providers:
  lab:
    type: mock
    models: [good]
  core:
    type: openai_compatible
    base_url: http://localhost:9/v1
    models: [must]
    required: true
  spare:
    type: openai_compatible
    base_url: http://localhost:10/v1
    models: [maybe]
"""


def compiled(tmp_path: Path, mappings: str = ""):
    (tmp_path / "providers.yaml").write_text(PROVIDERS)
    (tmp_path / "model-mappings.yaml").write_text(mappings)
    return compile_sources(tmp_path)


def test_routes_of_required_providers_are_not_optional(tmp_path):
    c = compiled(tmp_path)
    checks = c.route_checks()
    assert checks.names == ["good", "maybe", "must"]
    assert checks.optional == {"good", "maybe"}
    assert "gwops_required: true" in c.text


def test_a_route_is_required_when_one_of_its_backends_is(tmp_path):
    # `any-chat` is deployed as its first member (optional); `both` is served by both kinds
    (tmp_path / "providers.yaml").write_text(
        PROVIDERS.replace("models: [must]", "models: [must, both]").replace("models: [maybe]", "models: [maybe, both]")
    )
    (tmp_path / "model-mappings.yaml").write_text(
        "capabilities:\n  any-chat: [maybe, must]\nload_balanced:\n  both: [core, spare]\n"
    )
    checks = compile_sources(tmp_path).route_checks()
    assert "any-chat" in checks.optional and "both" in checks.names and "both" not in checks.optional


class _NoDocker:
    def tail_logs(self, service, n):
        return ""


@pytest.fixture
def gateway_url():  # readiness answers 200; `broken` fails its completion with HTTP 500
    server = fakes.start_openai()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_optional_route_that_fails_is_degraded_and_the_gate_passes(gateway_url):
    said: list[str] = []
    checks = RouteChecks(["broken", "good"], frozenset({"good", "broken"}))
    Health(_NoDocker(), said.append, 5).gateway(gateway_url, "k", checks, 5, 5, service="gateway-blue")
    assert list(checks.degraded) == ["broken"] and "connection refused" in checks.degraded["broken"]
    assert checks.first_working() == "good"
    assert any("route `broken`: degraded" in s for s in said)


def test_a_required_route_that_fails_fails_the_gate(gateway_url):
    checks = RouteChecks(["good", "broken"], frozenset({"good"}))
    with pytest.raises(HealthError) as err:
        Health(_NoDocker(), lambda m: None, 5).gateway(gateway_url, "k", checks, 5, 5, service="gateway-blue")
    assert "chat completion via `broken`" in str(err.value.check) and "required: false" in err.value.hint


def test_the_record_belongs_to_one_config_version(tmp_path):
    checks = RouteChecks(["good", "maybe"], frozenset({"maybe"}), {"maybe": "HTTP 500"})
    routecheck.save(tmp_path, checks, "v1")
    assert routecheck.load(tmp_path, "v1")["degraded"] == {"maybe": "HTTP 500"}
    assert routecheck.load(tmp_path, "v2") is None  # another version went live since
    routecheck.save(tmp_path, RouteChecks(), "v2")  # no route checked: nothing written
    assert routecheck.load(tmp_path, "v2") is None


def test_a_provider_on_a_port_the_stack_publishes_is_refused_with_both_places(tmp_path):
    from gwops.errors import ConfigError
    from gwops.settings import load_settings

    (tmp_path / "stack.yaml").write_text(
        "gateway:\n  port: 4000\nmonitoring:\n  enabled: true\n  prometheus_port: 9090\n"
    )
    (tmp_path / "providers.yaml").write_text(
        "providers:\n  exporter:\n    type: openai_compatible\n    base_url: http://localhost:9090/v1\n"
        "    models: [m]\n  remote:\n    type: openai_compatible\n    base_url: http://10.0.0.5:9090/v1\n"
        "    models: [n]\n"
    )
    settings = load_settings(tmp_path / "stack.yaml")
    with pytest.raises(ConfigError) as err:
        compile_sources(
            tmp_path, settings=settings, stack_file=tmp_path / "stack.yaml", published=published_ports(settings)
        )
    [p] = err.value.problems  # the remote server on 9090 is no collision
    assert (
        p.location() == "config/providers.yaml:4:5"
        and "`monitoring.prometheus_port` (config/stack.yaml:5)" in p.message
    )


def test_two_stack_ports_on_one_number_are_refused(tmp_path):
    from gwops.errors import ConfigError
    from gwops.settings import load_settings

    (tmp_path / "stack.yaml").write_text("gateway:\n  port: 3000\nmonitoring:\n  enabled: true\n")
    (tmp_path / "providers.yaml").write_text("providers: {}\n")
    with pytest.raises(ConfigError) as err:
        settings = load_settings(tmp_path / "stack.yaml")
        compile_sources(
            tmp_path, settings=settings, stack_file=tmp_path / "stack.yaml", published=published_ports(settings)
        )
    assert any("port 3000 is also `gateway.port`" in p.message for p in err.value.problems)


def test_a_route_that_only_embeds_is_checked_with_an_embedding(tmp_path, gateway_url):
    (tmp_path / "providers.yaml").write_text(
        "providers:\n  lab:\n    type: mock\n    models:\n      - good\n"
        "      - {name: embed, capabilities: [embeddings]}\n      - {name: both, capabilities: [chat, embeddings]}\n"
    )
    c = compile_sources(tmp_path)
    checks = c.route_checks()
    assert checks.embeddings == {"embed"}  # `both` chats too: checked with a chat completion
    entries = {e["model_name"]: e["model_info"] for e in c.config["model_list"]}
    assert entries["embed"]["mode"] == "embedding" and "mode" not in entries["both"]

    # the fake's `embed` refuses a chat (HTTP 400) and answers an embedding
    checks = RouteChecks(["embed", "good"], frozenset(), embeddings=frozenset({"embed"}))
    Health(_NoDocker(), lambda m: None, 5).gateway(gateway_url, "k", checks, 5, 5, service="gateway-blue")
    assert checks.degraded == {} and checks.first_working() == "good"
    with pytest.raises(HealthError) as err:  # checked as a chat route, it would fail the gate
        Health(_NoDocker(), lambda m: None, 5).gateway(
            gateway_url, "k", RouteChecks(["embed"], frozenset()), 5, 5, service="gateway-blue"
        )
    assert "chat completion via `embed`" in err.value.check
