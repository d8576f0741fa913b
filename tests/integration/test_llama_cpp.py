"""A real llama.cpp server run by the stack (`backends.llama_cpp`) on the host network, with a
tiny model the test writes itself (tests/fixtures/tiny_gguf.py): chat, streaming and embeddings
through the proxy and gateway; `backends` and `probe` see it; it listens on the address the
gateway reaches the host at, not on loopback and not on every interface."""

from __future__ import annotations

import json
import socket
import subprocess

import httpx
import pytest
import yaml

from tests.conftest import free_port, unique
from tests.fixtures import tiny_gguf
from tests.integration.conftest import container_ids, make_copy, master_key, ops, remove_stack

pytestmark = pytest.mark.integration


def host_gateway(project: str) -> str:
    """The address host.docker.internal names for containers, as the stack's gateway resolves it
    (Docker's bridge gateway; older engines, as Debian bookworm's 20.10, leave it out of
    `docker network inspect bridge`)."""
    ids = container_ids(project, "gateway-blue")
    assert ids, f"no gateway-blue container in {project}"
    out = subprocess.run(
        ["docker", "exec", ids[0], "getent", "hosts", "host.docker.internal"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out, "host.docker.internal does not resolve in the gateway container"
    return out[0]


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_llama_cpp_backend_serves_through_the_gateway(tmp_path, background_images):
    root = tmp_path / "repo"
    env = make_copy(root, unique("gwops-llama"))
    model = tiny_gguf.write(tmp_path / "tiny.gguf")
    port = free_port()
    stack_file = root / "config/stack.yaml"
    settings = yaml.safe_load(stack_file.read_text())
    settings["backends"] = {
        "llama_cpp": {"enabled": True, "model": str(model), "port": port, "embeddings": True, "ctx_size": 256}
    }
    stack_file.write_text(yaml.safe_dump(settings))
    (root / "config/providers.yaml").write_text(
        f"providers:\n  cpp:\n    type: llama_cpp\n    base_url: http://localhost:{port}\n    models: [tiny]\n"
        "    required: true\n"
    )
    try:
        up = ops(root, env, "up")  # the route check reaches llama.cpp: its provider is required
        assert up.returncode == 0, up.stderr
        assert "llama-cpp: healthy" in up.stderr, up.stderr

        # where it listens: the address containers reach the host at, not loopback, not all
        assert answers(host_gateway(settings["project_name"]), port)
        assert not answers("127.0.0.1", port)

        base = f"http://127.0.0.1:{settings['gateway']['port']}"
        headers = {"Authorization": f"Bearer {master_key(root)}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            r = client.post(
                "/v1/chat/completions",
                json={"model": "tiny", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"], r.text
            with client.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": "tiny",
                    "max_tokens": 8,
                    "stream": True,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            ) as s:
                chunks = [line for line in s.iter_lines() if line.startswith("data: {")]
            assert s.status_code == 200 and len(chunks) > 2, chunks
            r = client.post("/v1/embeddings", json={"model": "tiny", "input": "hello"})
            assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 64, r.text[:300]

        b = ops(root, env, "providers", "--json")
        found = {x["provider"]: x for x in json.loads(b.stdout)}
        assert found["cpp"]["state"] == "up" and found["cpp"]["gateway"]["ok"], found

        p = ops(root, env, "probe", "tiny", "--json")
        caps = {c: v["state"] for c, v in json.loads(p.stdout)["routes"]["tiny"]["capabilities"].items()}
        print(json.dumps(caps))
        assert caps["chat"] == "yes" and caps["streaming"] == "yes" and caps["embeddings"] == "yes", caps

        st = json.loads(ops(root, env, "status", "--json").stdout)
        row = next(s for s in st["services"] if s["service"] == "llama-cpp")
        assert row["health"] == "healthy", row
    finally:
        remove_stack(root, env)
