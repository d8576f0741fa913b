"""The OptiLLM sidecar on a real stack: ensembles answer through gateway -> OptiLLM -> proxy ->
gateway -> provider with the number of upstream calls each approach makes; what is not exposed is
refused before any upstream call; a loop ends at once; an upstream outage is a failure; a reload
that adds an ensemble reaches the running sidecar.

A small fake of the OpenAI API stands in for the model provider (we do not ship one); the proxy,
gateway, sidecar (the slim local OptiLLM build) and their guard are the real ones."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from tests import fakes
from tests.conftest import free_port, unique
from tests.integration.conftest import make_copy, master_key, ops, remove_stack

pytestmark = pytest.mark.integration

MAPPINGS = """ensembles:
  opt-moa: {approach: moa, base: plain}
  opt-bon: {approach: bon, base: plain}
  opt-sc: {approach: self_consistency, base: plain}
  opt-down: {approach: moa, base: broken}
"""
CALLS = {"opt-moa": 3, "opt-bon": 4, "opt-sc": 5}  # OptiLLM 0.4.0's upstream calls per approach


def post(url: str, key: str, body: dict, timeout: float = 120) -> tuple[int, str]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def chat(model: str, content: str = "What is 2+2?", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 16, **extra}


@pytest.fixture
def stack(tmp_path, local_images):
    root = tmp_path / "repo"
    project = unique("gwops-opt")
    env = make_copy(root, project)
    fake = fakes.start_openai("0.0.0.0")  # reachable from the gateway's containers
    settings = yaml.safe_load((root / "config/stack.yaml").read_text())
    settings["optillm"] = {"enabled": True, "port": free_port()}
    (root / "config/stack.yaml").write_text(yaml.safe_dump(settings))
    (root / "config/providers.yaml").write_text(
        f"providers:\n  fake:\n    type: openai_compatible\n    base_url: http://localhost:{fake.server_address[1]}/v1\n"
        "    models: [plain, broken]\n"
    )
    (root / "config/model-mappings.yaml").write_text(MAPPINGS)
    try:
        yield root, env, fake, project, settings["optillm"]["port"]
    finally:
        fake.shutdown()
        remove_stack(root, env)


def test_ensembles_through_the_sidecar(stack):
    root, env, fake, project, port = stack
    up = ops(root, env, "up", "--skip-route-checks")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "optillm: healthy" in up.stderr + up.stdout, up.stderr
    gw_port = yaml.safe_load((root / "config/stack.yaml").read_text())["gateway"]["port"]
    gateway = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
    key = master_key(root)
    client_key = next(
        line.split("=", 1)[1]
        for line in (root / ".env").read_text().splitlines()
        if line.startswith("OPTILLM_CLIENT_KEY=")
    )
    assert not client_key.startswith("sk-")

    # each approach: an answer, and exactly the upstream calls it makes, all for its base
    for handle, calls in CALLS.items():
        fake.calls.clear()
        status, text = post(gateway, key, chat(handle))
        assert status == 200, (handle, text)
        assert json.loads(text)["choices"][0]["message"]["content"], text
        assert fake.calls == ["plain"] * calls, (handle, fake.calls)

    # a stream is one chunk: OptiLLM never streams upstream
    status, text = post(gateway, key, chat("opt-moa", stream=True))
    assert status == 200 and text.count("data: {") >= 1 and "[DONE]" in text, text

    # refused before any upstream call: approaches not exposed, by name, body field or tag
    sidecar = f"http://127.0.0.1:{port}/v1/chat/completions"
    fake.calls.clear()
    for body in (
        chat("none-plain"),
        chat("moa-opt-moa"),
        chat("executecode-plain"),
        chat("moa-plain", optillm_approach="executecode"),
        chat("moa-plain", "<optillm_approach>executecode</optillm_approach> print(1)"),
    ):
        status, text = post(sidecar, client_key, body)
        assert status == 403 and "gwops:" in text, (body, status, text)
    assert post(sidecar, "wrong-key", chat("moa-plain"))[0] == 401
    # the gateway's key is no key for the sidecar, and the sidecar's no key for the gateway
    assert post(sidecar, key, chat("moa-plain"))[0] == 401
    assert post(gateway, client_key, chat("plain"))[0] in (400, 401)
    assert fake.calls == [], fake.calls

    # a crafted loop, from inside the sidecar, at the proxy's entrance: refused at once, no call
    # made; the entrance serves the bases (it adds the gateway key the sidecar does not hold)
    cid = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            "label=com.docker.compose.service=optillm",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    probe = (
        "import json,sys,urllib.request,urllib.error\n"
        "r=urllib.request.Request('http://proxy:4001/v1/chat/completions',method='POST',"
        "data=json.dumps({'model':sys.argv[1],'messages':[{'role':'user','content':'hi'}]}).encode(),"
        "headers={'Content-Type':'application/json','Authorization':'Bearer set-by-the-proxy'})\n"
        "try:\n  x=urllib.request.urlopen(r,timeout=60); print(x.status, x.read().decode()[:300])\n"
        "except urllib.error.HTTPError as e: print(e.code, e.read().decode()[:300])\n"
    )
    for model, expect in (("opt-moa", "403"), ("opt-anything", "403"), ("plain", "200")):
        out = subprocess.run(
            ["docker", "exec", cid, "python3", "-c", probe, model], capture_output=True, text=True, timeout=90
        ).stdout
        assert out.startswith(expect), (model, out)
        if expect == "403":
            assert "loop" in out, out
    assert fake.calls == ["plain"], fake.calls

    # an upstream outage is a failure, not a 200 with an error text, and no storm of calls
    fake.calls.clear()
    status, text = post(gateway, key, chat("opt-down"))
    assert status >= 500, (status, text)
    print(f"outage: HTTP {status}, {len(fake.calls)} calls of the broken base")
    assert 0 < len(fake.calls) <= 12, fake.calls  # moa's 1 + 3 calls, each tried 3 times by the gateway at most

    # the probe: chat works, the stream is one chunk (said why), the outage is an error
    r = ops(root, env, "probe", "opt-moa", "opt-down", "--json")
    routes = json.loads(r.stdout)["routes"]
    assert routes["opt-moa"]["capabilities"]["chat"]["state"] == "yes", routes
    assert "OptiLLM never streams" in routes["opt-moa"]["capabilities"]["streaming"]["reason"], routes
    assert routes["opt-down"]["capabilities"]["chat"]["state"] == "error", routes

    st = json.loads(ops(root, env, "status", "--json").stdout)
    row = next(s for s in st["services"] if s["service"] == "optillm")
    assert row["state"] == "running" and row["health"] == "healthy", row

    # a reload that adds an ensemble: the running sidecar lets it run at once (no restart)
    (root / "config/model-mappings.yaml").write_text(MAPPINGS + "  opt-more: {approach: bon, base: plain}\n")
    before = cid
    rl = ops(root, env, "reload")
    assert rl.returncode == 0, rl.stdout + rl.stderr
    fake.calls.clear()
    status, text = post(gateway, key, chat("opt-more"))
    assert status == 200 and fake.calls == ["plain"] * 4, (status, text, fake.calls)
    now = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            "label=com.docker.compose.service=optillm",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert now == before
