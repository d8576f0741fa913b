#!/usr/bin/env python3
"""Proxy overhead: one open-loop load whose requests take turns among three ways in, in one run
(same schedule, same mix, same moment, so LiteLLM's own jitter hits all three alike):

  direct       the active gateway container's address
  proxy        the HAProxy container's address (the hop a reload needs, nothing else)
  public port  127.0.0.1:<port>: Docker's port publishing, then HAProxy (what clients use)

Prints latency p50/p99 and throughput of each. Targets (issue 5): under 1 ms added at p50 and at
least 95% of the direct throughput. A directly published gateway would pay for Docker's port
publishing too, so the proxy's own cost is `proxy - direct`; `public port - direct` is shown too.
Run: .venv/bin/python bench/proxy_bench.py [RATE] [SECONDS]   (RATE: total requests/s, all ways)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from _stack import master_key, run, stack_copy  # noqa: E402

from gwops.loadgen import run_load  # noqa: E402


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] * 1000


def address(project: str, service: str) -> str:
    import docker

    c = docker.from_env().containers.list(
        filters={"label": [f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]}
    )[0]
    return next(
        n["IPAddress"] for name, n in c.attrs["NetworkSettings"]["Networks"].items() if name.endswith("_egress")
    )


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 120

    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        run(root, env, "up")
        key = master_key(root)
        project = st["project_name"]
        ways = {
            "direct": f"http://{address(project, 'gateway-blue')}:4000",
            "proxy": f"http://{address(project, 'proxy')}:4000",
            "public port": f"http://127.0.0.1:{st['gateway']['port']}",
        }
        run_load(list(ways.values()), key, rate=rate, duration=5)  # warm-up: connections, caches
        r = run_load(list(ways.values()), key, rate=rate, duration=seconds, stream_share=0.2, models_share=0.1)

    lat, thr, fails = {}, {}, {}
    for name, url in ways.items():
        mine = [o for o in r.outcomes if o.target == url]
        lat[name] = [o.latency for o in mine if o.ok]
        thr[name] = len(lat[name]) / r.seconds
        fails[name] = len(mine) - len(lat[name])
        print(
            f"{name:11}: p50 {pct(lat[name], 0.5):6.2f} ms, p99 {pct(lat[name], 0.99):7.2f} ms, "
            f"{thr[name]:.2f} ok/s, {fails[name]} failed of {len(mine)}"
        )
    d50 = pct(lat["direct"], 0.5)
    for name in ("proxy", "public port"):
        print(
            f"{name} adds {pct(lat[name], 0.5) - d50:+.2f} ms at p50, "
            f"{pct(lat[name], 0.99) - pct(lat['direct'], 0.99):+.2f} ms at p99; "
            f"throughput {thr[name] / thr['direct']:.1%} of direct"
        )
    print(
        f"(target: proxy under +1 ms at p50, throughput >= 95%; {rate:g} req/s in all, "
        f"{seconds:g} s, 20% streaming, 10% /v1/models, half on new connections)"
    )


if __name__ == "__main__":
    main()
