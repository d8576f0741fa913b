"""Model servers run by the stack (`backends:` in config/stack.yaml): their compose fragments
(host network, listening address, read-only models, GPU reservations) and their settings."""

from __future__ import annotations

import pytest
import yaml

from gwops.components import get
from gwops.errors import ConfigError
from gwops.settings import StackSettings, load_settings

pytestmark = pytest.mark.unit


def service(name: str, svc: str, **backend):
    s = StackSettings(backends={name: {"enabled": True, **backend}})
    return yaml.safe_load(get(name).render_fragment(s, "img:1"))["services"][svc]


def test_llama_cpp_listens_where_the_gateway_reaches_the_host():
    svc = service("llama_cpp", "llama-cpp", model="/srv/models/q.gguf", port=8089, embeddings=True)
    cmd = svc["command"][0]
    assert svc["network_mode"] == "host" and svc["extra_hosts"] == ["host.docker.internal:host-gateway"]
    # not 0.0.0.0 (the LAN) nor 127.0.0.1 (the gateway's containers cannot reach it)
    assert "--host \"$$(getent hosts host.docker.internal | cut -d' ' -f1)\"" in cmd and "0.0.0.0" not in cmd
    assert "--port 8089" in cmd and "--model /models/q.gguf" in cmd and "--embeddings" in cmd
    assert svc["volumes"] == ["/srv/models/q.gguf:/models/q.gguf:ro"]
    assert "8089/health" in svc["healthcheck"]["test"][-1] and "deploy" not in svc


def test_an_explicit_address_and_gpus():
    svc = service("llama_cpp", "llama-cpp", model="/m.gguf", bind="10.1.2.3", gpu="0, 2")
    assert '--host "10.1.2.3"' in svc["command"][0]
    dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev == {"driver": "nvidia", "device_ids": ["0", "2"], "capabilities": ["gpu"]}
    vllm = service("vllm", "vllm", model="Qwen/Qwen2.5-7B")
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["count"] == "all"
    assert vllm["volumes"] == ["/srv/huggingface:/root/.cache/huggingface:ro"] and vllm["ipc"] == "host"
    ollama = service("ollama", "ollama", port=11500)
    assert 'OLLAMA_HOST="$$(getent' in ollama["command"][0] and ":11500" in ollama["command"][0]


def test_off_by_default():
    for name in ("llama_cpp", "ollama", "vllm"):
        assert "it is off in config/stack.yaml" in get(name).render_fragment(StackSettings(), "img:1")


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "backends:\n  llama_cpp:\n    enabled: true\n",
            "config/stack.yaml:2:3: `model:` (a GGUF file on the host) is needed",
        ),
        ("backends:\n  llama_cpp: {enabled: true, model: models/q.gguf}\n", "must be an absolute path"),
        ("backends:\n  vllm:\n    enabled: true\n    bind: somewhere\n", "`somewhere` is not an IP address"),
    ],
)
def test_bad_backend_settings_name_the_line(tmp_path, text, expected):
    f = tmp_path / "stack.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    rendered = "\n".join(p.render() for p in err.value.problems)
    assert expected in rendered, rendered
