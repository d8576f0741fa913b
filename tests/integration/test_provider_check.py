"""`bin/ops providers` on a running stack: the gateway's own view of model servers on the host.

Small fake servers of the Ollama and OpenAI-compatible APIs stand in for model servers (providers
we do not ship); the stack, its gateway and the probe run inside it are real.
"""

from __future__ import annotations

import json

import pytest

from tests import fakes
from tests.integration.conftest import ops

pytestmark = pytest.mark.integration


def test_backends_and_probe_on_a_running_stack(copy):
    root, env = copy
    openai = fakes.start_openai("0.0.0.0")  # answers chat, streams, embeddings, tools, JSON as `full`
    # reachable from containers (all addresses: a test's fake, gone with the test)
    ollama = fakes.serve_json("0.0.0.0", {"/api/tags": {"models": [{"name": "llama3.1:8b"}, {"name": "phi3:mini"}]}})
    loopback = fakes.serve_json("127.0.0.1", {"/v1/models": {"data": [{"id": "tiny"}]}})  # the classic trap
    try:
        (root / "config/providers.yaml").write_text(
            "providers:\n"
            "  lab:\n    type: mock\n    models: [gwops-echo]\n"
            f"  olla:\n    type: ollama\n    base_url: http://localhost:{ollama.server_address[1]}\n"
            "    models: [llama3.1:8b, qwen2.5:7b]\n"
            f"  cpp:\n    type: llama_cpp\n    base_url: http://127.0.0.1:{loopback.server_address[1]}\n"
            "    models: [tiny]\n"
            "  gone:\n    type: openai_compatible\n    base_url: http://localhost:9/v1\n    models: [x]\n"
            "    required: true\n"
            f"  fake:\n    type: openai_compatible\n    base_url: http://localhost:{openai.server_address[1]}/v1\n"
            "    models: [full, plain]\n"
        )
        up = ops(root, env, "up", "--skip-route-checks")
        assert up.returncode == 0, up.stderr

        r = ops(root, env, "providers", "--json")
        assert r.returncode == 1, r.stderr
        found = {b["provider"]: b for b in json.loads(r.stdout)}

        olla = found["olla"]  # answers both; one configured model is missing, one served is unused
        assert olla["state"] == "drift" and olla["host"]["ok"] and olla["gateway"]["ok"], olla
        assert olla["not_served"] == ["qwen2.5:7b"] and olla["not_routed"] == ["phi3:mini"]

        cpp = found["cpp"]  # the host reaches it, the gateway cannot
        assert cpp["state"] == "gateway-cannot-reach" and cpp["host"]["ok"] and not cpp["gateway"]["ok"], cpp
        assert "listening on 127.0.0.1 only" in cpp["problem"] and "not 0.0.0.0" in cpp["next"]

        assert found["gone"]["state"] == "down" and "required: true" in found["gone"]["next"]
        assert found["lab"]["state"] == "built-in"
        assert found["fake"]["state"] == "up" and found["fake"]["problem"] is None, found["fake"]

        text = ops(root, env, "providers")
        assert text.returncode == 1 and "cpp: listening on 127.0.0.1 only" in text.stdout
        assert "served but not routed: phi3:mini" in text.stdout and "Traceback" not in text.stderr

        # the capability matrix, through the proxy and the gateway to the provider
        r = ops(root, env, "probe", "full", "plain", "gwops-echo", "--json")
        matrix = {
            route: {c: v["state"] for c, v in doc["capabilities"].items()}
            for route, doc in json.loads(r.stdout)["routes"].items()
        }
        print(json.dumps(matrix, indent=1))
        assert matrix["full"] == dict.fromkeys(("chat", "streaming", "embeddings", "tools", "json_mode"), "yes")
        assert matrix["plain"]["chat"] == "yes" and matrix["plain"]["tools"] == "no"
        assert matrix["plain"]["embeddings"] == "no" and matrix["gwops-echo"]["chat"] == "yes"
        saved = json.loads((root / "state/capabilities.json").read_text())
        assert saved["routes"]["full"]["ttft_seconds"] is not None
        assert (
            'gwops_probe_capability{capability="embeddings",route="full"} 1'
            in (root / "state/metrics/probe.prom").read_text()
        )
        bad = ops(root, env, "probe", "no-such-route")
        assert bad.returncode == 2 and "no such route: no-such-route" in bad.stderr
    finally:
        openai.shutdown()
        ollama.shutdown()
        loopback.shutdown()
