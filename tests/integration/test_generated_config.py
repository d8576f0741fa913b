"""The real LiteLLM container starts with a generated config holding every provider type and
routing feature, and `/v1/models` lists exactly the expected names."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from testcontainers.core.container import DockerContainer

from gwops.config.pipeline import compile_sources
from gwops.poll import poll

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "full"


def test_litellm_accepts_generated_config(local_images, tmp_path):
    compiled = compile_sources(GOLDEN, env={"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y"})
    cfg = tmp_path / "config.yaml"
    cfg.write_text(compiled.text)
    cfg.chmod(0o644)
    key = "sk-" + secrets.token_urlsafe(32)
    with (
        DockerContainer(local_images["gateway"])
        .with_env("LITELLM_MASTER_KEY", key)
        .with_env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .with_env("REDIS_PASSWORD", "unused-here")
        .with_env("OPENAI_API_KEY", "sk-test-not-real")
        .with_env("ANTHROPIC_API_KEY", "not-real")
        .with_volume_mapping(str(cfg), "/app/config.yaml", "ro")
        .with_command("--config /app/config.yaml --port 4000")
        .with_exposed_ports(4000)
    ) as gw:
        url = f"http://{gw.get_container_host_ip()}:{gw.get_exposed_port(4000)}"

        def models():
            try:
                r = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5)
            except httpx.HTTPError:
                return None
            return r.json() if r.status_code == 200 else None

        data = poll(models, 120)
        got = {m["id"] for m in data["data"]}
        model_list = compiled.config["model_list"]
        names = {e["model_name"] for e in model_list if "*" not in e["model_name"]} | set(compiled.catalog.aliases)
        assert names <= got, sorted(names - got)
        # the only other names are LiteLLM's expansions of our wildcard routes (e.g. `ollama_chat/...`)
        wild = tuple(e["litellm_params"]["model"].split("*")[0] for e in model_list if "*" in e["model_name"])
        assert all(g.startswith(wild) for g in got - names), sorted(got - names)
