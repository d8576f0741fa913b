"""Do LiteLLM's Prometheus counters count every request when it runs several gunicorn workers?

Starts the local LiteLLM image (2 workers, `callbacks: ["prometheus"]`, mock deployments) on a
private internal network, sends exactly 37 chat completions one at a time (20 succeed, 8 of them
streamed; 9 fail on a deployment whose mock raises InternalServerError, 3 streamed; 8 ask for a
model that does not exist), then scrapes /metrics 12 times on fresh connections (each may land on
either worker) and prints the distinct totals seen. Not a load test: one request at a time.

    python bench/litellm_metrics_count.py auto     # as shipped: LiteLLM sets up the multiprocess dir
    python bench/litellm_metrics_count.py tmpfs    # PROMETHEUS_MULTIPROC_DIR=/prom on a tmpfs
    python bench/litellm_metrics_count.py nomp     # that setup patched out: one registry per worker

Findings (1.106.2, see src/gwops/components/prometheus/NOTES.md): auto and tmpfs count 37 and
17 failed on every scrape; nomp shows 12/4 or 25/13 depending on the worker that answered.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

IMAGE = "gwops/litellm:1.106.2"
CONFIG = """\
model_list:
  - model_name: ok
    litellm_params: {model: openai/x, mock_response: "hi", api_key: fake}
  - model_name: bad
    litellm_params: {model: openai/y, mock_response: "litellm.InternalServerError", api_key: fake}
litellm_settings:
  callbacks: ["prometheus"]
"""
ARGS = ["--config", "/app/config.yaml", "--port", "4000", "--num_workers", "2", "--run_gunicorn"]
NO_MULTIPROC = (
    "import sys; import litellm.proxy.proxy_cli as c; "
    "c.ProxyInitializationHelpers.maybe_setup_prometheus_multiproc_dir = staticmethod(lambda **k: None); "
    f"sys.argv = ['litellm', *{ARGS!r}]; c.run_server()"
)
KEYS = [
    "litellm_proxy_total_requests_metric_total",
    "litellm_proxy_failed_requests_metric_total",
    "litellm_requests_metric_total",
    "litellm_request_total_latency_metric_count",
    "litellm_llm_api_time_to_first_token_metric_count",
]
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def totals(base: str, headers: dict[str, str]) -> tuple[float, ...]:
    with httpx.Client(timeout=10) as c:  # a new connection: any worker may answer
        text = c.get(base + "/metrics/", headers=headers).text
    sums = dict.fromkeys(KEYS, 0.0)
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) in sums:
            sums[m.group(1)] += float(m.group(3))
    return tuple(sums.values())


def main(scenario: str) -> None:
    key = "sk-" + secrets.token_hex(20)
    name, net = f"gwops-metrics-count-{scenario}", f"gwops-metrics-count-{secrets.token_hex(3)}"
    workdir = Path(tempfile.mkdtemp())
    (workdir / "config.yaml").write_text(CONFIG)
    (workdir / "config.yaml").chmod(0o644)
    run = [
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--network",
        net,
        "-e",
        f"LITELLM_MASTER_KEY={key}",
        "-v",
        f"{workdir / 'config.yaml'}:/app/config.yaml:ro",
    ]
    if scenario == "tmpfs":
        run += ["-e", "PROMETHEUS_MULTIPROC_DIR=/prom", "--tmpfs", "/prom:mode=1777", IMAGE, *ARGS]
    elif scenario == "nomp":
        run += ["--entrypoint", "/opt/litellm/bin/python3", IMAGE, "-c", NO_MULTIPROC]
    else:
        run += [IMAGE, *ARGS]
    sh("docker", "network", "create", "--internal", net)
    try:
        sh(*run)
        ip = sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
        base, headers = f"http://{ip}:4000", {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("LiteLLM not live after 120 s:\n" + sh("docker", "logs", "--tail", "30", name))
            time.sleep(0.3)
        plan = (
            [("ok", False)] * 12
            + [("ok", True)] * 8
            + [("bad", False)] * 6
            + [("bad", True)] * 3
            + [("nosuch", False)] * 8
        )
        failed = 0
        for model, stream in plan:
            with httpx.Client(timeout=60) as c:
                body = {"model": model, "messages": [{"role": "user", "content": "x"}], "stream": stream}
                failed += c.post(base + "/v1/chat/completions", json=body, headers=headers).status_code != 200
        print(f"{scenario}: sent {len(plan)}, failed {failed}")
        # the callbacks run after each response: wait until two scrapes agree (deadline 30 s)
        deadline, previous = time.monotonic() + 30, None
        while (current := totals(base, headers)) != previous and time.monotonic() < deadline:
            previous = current
            time.sleep(1)
        seen = [totals(base, headers) for _ in range(12)]
        for t in sorted(set(seen)):
            print(f"  {seen.count(t)} of 12 scrapes:", dict(zip(KEYS, t, strict=True)))
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "network", "rm", net], capture_output=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "auto")
