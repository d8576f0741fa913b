"""`bin/ops providers` against small fake servers of the provider APIs (Ollama, OpenAI-compatible).

The gateway's view is stood in for by the same probe code run with the URLs rewritten to another
loopback address (127.0.0.2), as the gateway reaches the host at another address than 127.0.0.1:
a server bound to 127.0.0.1 only answers the host and not that address, as in real life.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from gwops import provider_check, provider_http
from gwops.config.models import Provider
from tests import fakes

pytestmark = pytest.mark.unit
ALIAS = "127.0.0.2"


@pytest.fixture
def servers():
    started: list = []

    def start(*args, **kw) -> int:
        server = fakes.serve_json(*args, **kw)
        started.append(server)
        return server.server_address[1]

    yield start
    for s in started:
        s.shutdown()


def gateway_view(reqs):
    def moved(r):
        u = urlsplit(r["url"])
        return {**r, "url": urlunsplit(u._replace(netloc=f"{ALIAS}:{u.port}"))}

    doc = provider_http.run([moved(r) for r in reqs], {"LAB_KEY": "k1"})
    return {**doc, "host_alias": ALIAS}


def check(providers: dict[str, Provider], tmp_path: Path, in_gateway=gateway_view):
    (tmp_path / ".env").write_text("LAB_KEY=k1\n")
    return {b.provider: b for b in provider_check.check(providers, tmp_path / ".env", in_gateway)}


def test_each_state_is_told_apart(servers, tmp_path):
    ollama = servers("0.0.0.0", {"/api/tags": {"models": [{"name": "llama3.1:8b"}, {"name": "phi3:mini"}]}})
    vllm = servers("0.0.0.0", {"/v1/models": {"data": [{"id": "qwen-7b"}]}}, need_key="k1")
    local_only = servers("127.0.0.1", {"/v1/models": {"data": [{"id": "tiny"}]}})
    found = check(
        {
            "olla": Provider(type="ollama", base_url=f"http://localhost:{ollama}", models=["llama3.1:8b"]),
            "vl": Provider(
                type="vllm",
                base_url=f"http://localhost:{vllm}/v1",
                api_key_env="LAB_KEY",
                models=["qwen-7b", "qwen-14b"],
            ),
            "cpp": Provider(type="llama_cpp", base_url=f"http://127.0.0.1:{local_only}", models=["tiny"]),
            "gone": Provider(type="openai_compatible", base_url="http://localhost:9/v1", models=["x"], required=True),
            "off": Provider(type="ollama", status="disabled", models=["y"]),
            "lab": Provider(type="mock", models=["gwops-echo"]),
        },
        tmp_path,
    )

    assert found["olla"].state == "up" and found["olla"].problem is None
    assert found["olla"].not_routed == ["phi3:mini"] and found["olla"].gateway.ok and found["olla"].host.ms is not None

    assert found["vl"].state == "drift" and found["vl"].not_served == ["qwen-14b"]  # the key was sent
    assert "configured but not served: qwen-14b" in found["vl"].problem

    cpp = found["cpp"]
    assert cpp.state == "gateway-cannot-reach" and cpp.host.ok and not cpp.gateway.ok
    assert "listening on 127.0.0.1 only" in cpp.problem and f"bound to {ALIAS}" in cpp.next

    assert found["gone"].state == "down" and "required: true" in found["gone"].next
    assert found["off"].state == "disabled" and found["off"].host is None
    assert found["lab"].state == "built-in"


def test_a_wrong_key_is_named(servers, tmp_path):
    port = servers("0.0.0.0", {"/v1/models": {"data": [{"id": "m"}]}}, need_key="other")
    found = check(
        {"vl": Provider(type="vllm", base_url=f"http://localhost:{port}", api_key_env="LAB_KEY", models=["m"])},
        tmp_path,
    )
    assert found["vl"].state == "down" and "HTTP 401 (the key is missing or wrong)" in found["vl"].problem


def test_without_a_running_gateway_the_host_view_is_said_to_be_all(servers, tmp_path):
    port = servers("0.0.0.0", {"/api/tags": {"models": [{"name": "m"}]}})
    found = check(
        {"o": Provider(type="ollama", base_url=f"http://localhost:{port}", models=["m"])},
        tmp_path,
        in_gateway=lambda reqs: None,
    )
    assert found["o"].state == "up" and found["o"].gateway is None and "only the host's view" in found["o"].next


def test_the_old_command_name_still_works_with_a_notice():
    """`bin/ops backends` was the provider check's name: it keeps working, hidden, and says the new one."""
    from click.testing import CliRunner

    from gwops.cli.main import cli

    runner = CliRunner()
    listed = runner.invoke(cli, ["--help"])
    assert "providers" in listed.output and " backends " not in listed.output
    old = runner.invoke(cli, ["backends", "--help"])
    assert old.exit_code == 0 and "--json" in old.output
