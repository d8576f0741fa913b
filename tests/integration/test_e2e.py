"""`bin/ops up` on a temporary copy of the repo: chat completion, status, idempotent up, down.

Uses its own Compose project name and a free port, so a stack the operator runs is not touched.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from gwops.poll import poll
from tests.integration.conftest import container_ids, ops

pytestmark = pytest.mark.integration


def test_up_chat_status_idempotent_down(copy):
    import openai

    root, env = copy
    first = ops(root, env, "up")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr

    dotenv = dict(
        line.split("=", 1)
        for line in (root / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert oct((root / ".env").stat().st_mode & 0o777) == "0o600"
    port = yaml.safe_load((root / "config/stack.yaml").read_text())["gateway"]["port"]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=dotenv["LITELLM_MASTER_KEY"])
    reply = client.chat.completions.create(model="gwops-echo", messages=[{"role": "user", "content": "hi"}])
    assert "gwops gateway" in reply.choices[0].message.content

    # no secret in generated files
    for f in [
        root / "state/litellm.config.yaml",
        root / "state/proxy/haproxy.cfg",
        *(root / "state/versions").glob("*.yaml"),
        *(root / "compose.d").glob("*.yml"),
    ]:
        text = f.read_text()
        for key in ("LITELLM_MASTER_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
            assert dotenv[key] not in text, f"{key} leaked into {f}"

    st = ops(root, env, "status", "--json")
    assert st.returncode == 0, st.stdout + st.stderr
    status = json.loads(st.stdout)
    assert status["overall"] == "healthy"
    assert {s["service"]: s["health"] for s in status["services"]} == {
        "proxy": "healthy",
        "gateway-blue": "healthy",
        "gateway-green": "standby",
        "postgres": "healthy",
        "redis": "healthy",
    }  # the idle slot waits as a standby for the next reload
    assert status["gateway"]["active_slot"] == "blue" and status["gateway"]["config_version"]
    assert status["gateway"]["routes"] == ["gwops-echo"]
    assert all(s["kind"] in ("local", "official") for s in status["services"])

    # plain compose works in the project directory (COMPOSE_FILE / COMPOSE_PROJECT_NAME are in .env)
    ps = subprocess.run(
        ["docker", "compose", "ps", "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k not in ("GWOPS_ROOT",)},
        timeout=60,
    )
    assert ps.returncode == 0 and "gateway" in ps.stdout

    docker_ids = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={status['project']}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    again = ops(root, env, "up")
    assert again.returncode == 0, again.stderr
    docker_ids_after = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={status['project']}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert (
        sorted(docker_ids) == sorted(docker_ids_after) and len(docker_ids) == 7
    )  # nothing recreated (2 gateway replicas, 2 standbys)

    # the scheduled backup: installed with a crontab library, run as cron would (no TTY, minimal
    # environment, another working directory)
    assert ops(root, env, "cron", "install").returncode == 0
    entries = {
        line.rsplit(" # gwops-", 1)[1].split(":", 1)[0]: line.split(None, 5)[5].rsplit(" # gwops-", 1)[0]
        for line in ops(root, env, "cron", "show").stdout.splitlines()
    }
    assert set(entries) == {"backup", "purge"}  # the spend-log purge beside it (the database is on)
    for job in ("backup", "purge"):
        cron_run = subprocess.run(
            ["env", "-i", "HOME=/root", "sh", "-c", entries[job]],
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cron_run.returncode == 0, (root / f"logs/{job}-cron.log").read_text()
    assert "LiteLLM_SpendLogs: 0 rows older than 90 days deleted" in (root / "logs/purge-cron.log").read_text()
    listing = json.loads(ops(root, env, "backups", "--json").stdout)
    assert [b["verified"] for b in listing] == ["verified"]
    status = json.loads(ops(root, env, "status", "--json").stdout)
    assert status["backups"]["stale"] is False and status["backups"]["last_verified_age_seconds"] < 600

    restored = ops(root, env, "restore", "latest", "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "is kept as" in restored.stderr
    reply = client.chat.completions.create(model="gwops-echo", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices
    assert json.loads(ops(root, env, "status", "--json").stdout)["overall"] == "healthy"
    assert len(json.loads(ops(root, env, "backups", "--json").stdout)) == 2  # restore took one first

    down = ops(root, env, "down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr
    assert "was taken first" in down.stderr
    assert len(json.loads(ops(root, env, "backups", "--json").stdout)) == 3
    st = ops(root, env, "status", "--json")
    assert st.returncode == 2 and json.loads(st.stdout)["overall"] == "down"


def test_up_refuses_invalid_config_and_reports_failed_route(copy):
    root, env = copy
    providers = root / "config/providers.yaml"
    providers.write_text(
        "providers:\n  lab:\n    type: openai_compatible\n    base_url: http://localhost:9/v1\n"
        "    models: [dead-model]\n    modles: []\n"
    )
    bad = ops(root, env, "up")
    assert bad.returncode == 2 and "config/providers.yaml:6:5" in bad.stderr and "did you mean `models`" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (root / "state/litellm.config.yaml").exists()  # nothing generated, nothing started

    # valid config, but the (required) provider behind the route is down: the route check fails
    providers.write_text(
        "providers:\n  lab:\n    type: openai_compatible\n    base_url: http://localhost:9/v1\n"
        "    models: [dead-model]\n    required: true\n"
    )
    failed = ops(root, env, "up")
    assert failed.returncode == 4, failed.stderr
    assert "service `gateway-blue` failed check `chat completion via `dead-model``" in failed.stderr
    assert "last log lines of `gateway-blue`" in failed.stderr and "Traceback" not in failed.stderr
    status = json.loads(ops(root, env, "status", "--json").stdout)
    health = {s["service"]: s["health"] for s in status["services"]}
    assert health["postgres"] == "healthy" and health["redis"] == "healthy"  # healthy services stay up

    # the same provider, optional (the default): the stack comes up and says the route is degraded
    providers.write_text(
        "providers:\n  lab:\n    type: openai_compatible\n    base_url: http://localhost:9/v1\n"
        "    models: [dead-model]\n"
    )
    degraded = ops(root, env, "up")
    assert degraded.returncode == 0 and "degraded route `dead-model`" in degraded.stderr, degraded.stderr
    st = ops(root, env, "status")
    assert st.returncode == 1 and "degraded route `dead-model`" in st.stdout and "bin/ops providers" in st.stdout


def test_the_response_cache_is_listed_measured_and_flushed_alone(copy):
    """`cache stats|keys|flush` on a stack with LiteLLM's response cache on: a repeated question is
    answered from the cache, the cache's keys are told apart from anything else in Redis, and a
    flush deletes only them."""
    root, env = copy
    mappings = root / "config/model-mappings.yaml"
    doc = yaml.safe_load(mappings.read_text()) or {}
    doc.setdefault("router_settings", {})["caching"] = {"enabled": True, "ttl": 600}
    mappings.write_text(yaml.safe_dump(doc))
    up = ops(root, env, "up", "--skip-route-checks")
    assert up.returncode == 0, up.stderr
    for _ in range(3):  # the same question three times: asked once, then answered from the cache
        t = ops(root, env, "try", "gwops-echo", "--prompt", "cached?")
        assert t.returncode == 0, t.stdout + t.stderr
    project = yaml.safe_load((root / "config/stack.yaml").read_text())["project_name"]
    (redis,) = container_ids(project, "redis")
    pw = next(
        line.split("=", 1)[1] for line in (root / ".env").read_text().splitlines() if line.startswith("REDIS_PASSWORD=")
    )

    def cli(*args: str) -> str:
        return subprocess.run(
            ["docker", "exec", "-e", f"REDISCLI_AUTH={pw}", redis, "redis-cli", "--no-auth-warning", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    cli("SET", "gwops-test:not-the-cache", "1")
    keys = json.loads(ops(root, env, "cache", "keys", "--json").stdout)
    assert keys["keys"] == 1 and keys["listed"][0]["model"] == "gwops-echo" and 0 < keys["listed"][0]["ttl"] <= 600
    assert keys["listed"][0]["key"].startswith("gwops-cache:")
    stats = json.loads(ops(root, env, "cache", "stats", "--json").stdout)
    assert stats["enabled"] and stats["keys"] == 1 and stats["models"][0]["model"] == "gwops-echo"

    def hit_rate():  # LiteLLM writes its spend logs in batches
        routes = json.loads(ops(root, env, "cache", "stats", "--json").stdout)["routes"]
        return routes if routes and routes[0]["requests"] == 3 else None

    (route,) = poll(hit_rate, 60, 1)
    assert route == {"route": "gwops-echo", "requests": 3, "cache_hits": 2, "hit_rate": round(2 / 3, 4)}

    assert ops(root, env, "cache", "flush").returncode == 7  # asks first; not a terminal: declined
    assert json.loads(ops(root, env, "cache", "flush", "--model", "other", "--yes", "--json").stdout)["deleted"] == 0
    flushed = json.loads(ops(root, env, "cache", "flush", "--model", "gwops-echo", "--yes", "--json").stdout)
    assert flushed["deleted"] == 1
    assert json.loads(ops(root, env, "cache", "keys", "--json").stdout)["keys"] == 0
    assert cli("GET", "gwops-test:not-the-cache") == "1"  # nothing outside the cache's namespace
