#!/usr/bin/env python3
"""Upgrade wall time under load (issue 26): a stack of the pinned LiteLLM release, monitoring on,
a virtual key sending RATE requests/s (20 % streaming, half on new connections) through the
public port; `bin/ops upgrade --to TARGET`, then `bin/ops upgrade --rollback`. Prints each one's
wall time and split (image, backup, migrations, start, switch), the failed requests (target: 0),
and p50/p99 before, during and after.
The target's image must be on this host or buildable (its lock: config/locks/litellm-TARGET.txt).
Run: .venv/bin/python bench/upgrade_bench.py [TARGET] [RATE]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from _stack import ops, pct_in, run, stack_copy  # noqa: E402

from gwops.loadgen import Background  # noqa: E402


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "1.108.7"
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp, monitoring=True) as (root, env, st):
        secs, _ = run(root, env, "up")
        print(f"up: {secs:.1f} s")
        key = ops(root, env, "keys", "create", "--alias", "bench").stdout.strip()
        url = f"http://127.0.0.1:{st['gateway']['port']}"
        steps = []
        with Background(url, key, rate=rate, stream_share=0.2, models_share=0.0) as bg:
            time.sleep(10)  # steady load before (a measurement window)
            for args in (["--to", target], ["--rollback"]):
                t0 = time.monotonic()
                r = ops(root, env, "upgrade", *args, "--json")
                t1 = time.monotonic()
                if r.returncode != 0:
                    sys.exit(f"upgrade {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
                rep = json.loads(r.stdout)
                steps.append((args, t0, t1, rep))
                time.sleep(10)  # steady load after
        res = bg.result
        print(f"load: {res.summary()}")
        first = min(o.sent for o in res.outcomes)
        print(
            f"steady before: p50 {pct_in(res, 0.5, (first, steps[0][1])):.1f} ms, p99 {pct_in(res, 0.99, (first, steps[0][1])):.1f} ms"
        )
        for _args, t0, t1, rep in steps:
            plan = rep["plan"]
            split = ", ".join(f"{k} {v:.1f} s" for k, v in rep["steps"].items())
            print(
                f"upgrade {plan['running']} -> {plan['target']}: {t1 - t0:.1f} s wall ({split}); "
                f"{len(rep['applied'])} migrations; during: p50 {pct_in(res, 0.5, (t0, t1)):.1f} ms, "
                f"p99 {pct_in(res, 0.99, (t0, t1)):.1f} ms"
            )
        print(f"failed requests: {len(res.failures)} (target 0)")


if __name__ == "__main__":
    main()
