#!/usr/bin/env python3
"""Cold and warm `up`, against the critical path of per-service time-to-healthy.

Runs on a temporary copy of the repo (own Compose project, free port; images must be present:
`bin/ops images build`), with empty volumes. Prints, in one run: cold `up` wall time (the
`bin/ops up` process, venv start included), the critical path (longest chain of per-service
time-to-healthy along depends_on, as measured by the health gates), their ratio, and warm `up`.
Targets (issue 2): cold <= 1.2x critical path; warm < 3 s.
Run: .venv/bin/python bench/up_bench.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import run, stack_copy  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, _):
        cold, out = run(root, env, "up")
        gates = {m.group(1): float(m.group(2)) for m in re.finditer(r"([\w-]+): healthy \(([\d.]+) s\)", out)}
        levels = [["postgres", "proxy", "redis"], [g for g in gates if g.startswith("gateway")]]
        critical = sum(max((gates.get(s, 0) for s in lvl), default=0) for lvl in levels)
        warms = sorted(run(root, env, "up")[0] for _ in range(3))
    print(f"per-service time-to-healthy: {', '.join(f'{k} {v:.1f} s' for k, v in gates.items())}")
    print(f"cold up {cold:.1f} s; critical path {critical:.1f} s; ratio {cold / critical:.2f} (target <= 1.2)")
    print(f"warm up {warms[1]:.1f} s, median of 3: {', '.join(f'{w:.1f}' for w in warms)} (target < 3 s)")


if __name__ == "__main__":
    main()
