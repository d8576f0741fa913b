#!/usr/bin/env python3
"""Proxy overhead: the same fixed open-loop load through the proxy (public port) and straight to
the active gateway container, interleaved in one run. Prints latency p50/p99 and throughput of
each. Targets (issue 5): under 1 ms added at p50, at least 95% of the direct throughput.
Run: .venv/bin/python bench/proxy_bench.py [RATE] [SECONDS] [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from _stack import run, stack_copy  # noqa: E402

from gwops.loadgen import run_load  # noqa: E402


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] * 1000


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    import docker

    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        run(root, env, "up")
        key = next(line.split("=", 1)[1] for line in (root / ".env").read_text().splitlines()
                   if line.startswith("LITELLM_MASTER_KEY="))
        c = docker.from_env().containers.list(filters={"label": [f"com.docker.compose.project={st['project_name']}",
                                                                   "com.docker.compose.service=gateway-blue"]})[0]
        ip = next(n["IPAddress"] for name, n in c.attrs["NetworkSettings"]["Networks"].items() if name.endswith("_egress"))
        targets = {"direct": f"http://{ip}:4000", "proxy": f"http://127.0.0.1:{st['gateway']['port']}"}
        run_load(targets["proxy"], key, rate=rate, duration=5)  # warm-up
        lat = {k: [] for k in targets}
        thr = {k: [] for k in targets}
        fails = {k: 0 for k in targets}
        for _ in range(rounds):
            for name, url in targets.items():
                r = run_load(url, key, rate=rate, duration=seconds, stream_share=0.2, models_share=0.1)
                lat[name] += [o.latency for o in r.outcomes if o.ok]
                thr[name].append(sum(o.ok for o in r.outcomes) / r.seconds)
                fails[name] += len(r.failures)
    d50, p50 = pct(lat["direct"], 0.5), pct(lat["proxy"], 0.5)
    dthr, pthr = statistics.mean(thr["direct"]), statistics.mean(thr["proxy"])
    for name in targets:
        print(f"{name:6}: p50 {pct(lat[name], 0.5):.2f} ms, p99 {pct(lat[name], 0.99):.2f} ms, "
              f"{statistics.mean(thr[name]):.1f} req/s, {fails[name]} failed ({len(lat[name])} ok)")
    print(f"proxy adds {p50 - d50:+.2f} ms at p50 (target < 1 ms); throughput {pthr / dthr:.1%} of direct "
          f"(target >= 95%); {rate:g} req/s open loop, {rounds} interleaved rounds of {seconds:g} s")


if __name__ == "__main__":
    main()
