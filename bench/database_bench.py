#!/usr/bin/env python3
"""What LiteLLM's database costs (issue 22 figures), on two temporary copies of the repo (local
images present: `bin/ops images build`), A with `database.enabled: false`, B with it on:
  1. cold `bin/ops up` from empty volumes, each stack alone (the other down), twice in turns (B
     applies every migration), and a warm `up` after each: the medians' differences (target:
     cold at most +10 s, warm unchanged);
  2. gateway latency at RATE req/s (default 20, 20% streaming): A with the master key, B with a
     virtual key, in turns, ROUNDS rounds of SECONDS each (defaults 3 x 30 s): p50 and p99 of
     each side (target: the database costs at most 10 % on p50);
  3. B at 50 req/s with a virtual key for SUSTAIN seconds (default 300): every engine process
     (the adapter, one per LiteLLM worker: counted, standbys included) and worker with its memory
     (RSS from /proc in each gateway container), and LiteLLM's spend logs: rows written over
     requests answered at the end (target 1.0: no growing queue).
Run: GWOPS_VENV=.venv .venv/bin/python bench/database_bench.py [RATE] [ROUNDS] [SECONDS] [SUSTAIN] [PARTS]
(PARTS: which of 1, 2, 3 to run, e.g. `1` or `23`; default all). Nothing else may load the machine
meanwhile: the figures are of 2 saturated cores.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _stack import master_key, run, stack_copy, standby_ready, wait_quiet  # noqa: E402

from gwops.loadgen import run_load  # noqa: E402

# every process of a gateway container: pid, RSS and PSS (kB; PSS shares the pages processes
# share, such as node's binary, among them), command line
PROCS = (
    'for p in /proc/[0-9]*; do r=$(sed -n "s/^VmRSS:[[:space:]]*//p" $p/status 2>/dev/null); '
    's=$(sed -n "s/^Pss:[[:space:]]*//p" $p/smaps_rollup 2>/dev/null); '
    '[ -n "$r" ] && echo "${p#/proc/}|$r|${s:-0 kB}|$(tr "\\0" " " < $p/cmdline)"; done'
)


def with_database(root: Path, on: bool) -> None:
    f = root / "config/stack.yaml"
    st = yaml.safe_load(f.read_text())
    st.setdefault("database", {})["enabled"] = on
    f.write_text(yaml.safe_dump(st))


def percentiles(res) -> tuple[float, float, int]:
    lat = sorted(o.latency for o in res.outcomes if o.ok)
    return lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000, len(res.failures)


def url(st: dict) -> str:
    return f"http://127.0.0.1:{st['gateway']['port']}"


def new_key(root: Path, env: dict, alias: str) -> str:
    out = subprocess.run(
        [str(root / "bin/ops"), "keys", "create", "--alias", alias],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        sys.exit(f"keys create failed: {out.stderr}")
    return out.stdout.strip()


def containers(project: str, prefix: str = "gateway-") -> list[str]:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--format",
            '{{.ID}} {{.Label "com.docker.compose.service"}}',
        ],
        capture_output=True,
        text=True,
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()[1].startswith(prefix)]


def processes(project: str) -> list[tuple[str, int, int, str]]:
    found = []
    for c in containers(project):
        out = subprocess.run(["docker", "exec", c, "sh", "-c", PROCS], capture_output=True, text=True).stdout
        for line in out.splitlines():
            _pid, rss, pss, cmd = line.split("|", 3)
            found.append((c[:12], int(rss.split()[0]), int(pss.split()[0]), cmd.strip()))
    return found


def spend_rows(project: str, alias: str) -> int:
    pg = containers(project, "postgres")[0]
    sql = (
        'SELECT count(*) FROM "LiteLLM_SpendLogs" s JOIN "LiteLLM_VerificationToken" k ON k.token = s.api_key '
        f"WHERE k.key_alias = '{alias}'"
    )
    out = subprocess.run(
        ["docker", "exec", pg, "sh", "-c", 'psql -X -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"', sql],
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip() or 0)


def main() -> None:
    rate, rounds, seconds, sustain = (
        float(sys.argv[1]) if len(sys.argv) > 1 else 20,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
        float(sys.argv[3]) if len(sys.argv) > 3 else 30,
        float(sys.argv[4]) if len(sys.argv) > 4 else 300,
    )
    parts = sys.argv[5] if len(sys.argv) > 5 else "123"
    with tempfile.TemporaryDirectory() as ta, tempfile.TemporaryDirectory() as tb, contextlib.ExitStack() as ex:
        a_root, a_env, a_st = ex.enter_context(stack_copy(ta))
        b_root, b_env, b_st = ex.enter_context(stack_copy(tb))
        with_database(a_root, False)
        # each side alone on the machine, from empty volumes, twice in turns: the median
        colds: dict[str, list[float]] = {"a": [], "b": []}
        warms: dict[str, list[float]] = {"a": [], "b": []}
        log_b, note = "", ""
        for _ in range(2 if "1" in parts else 0):
            for side, root, env, st in (("a", a_root, a_env, a_st), ("b", b_root, b_env, b_st)):
                note = wait_quiet(st["project_name"])
                t, log = run(root, env, "up")
                colds[side].append(t)
                warms[side].append(run(root, env, "up")[0])
                log_b = log if side == "b" else log_b
                run(root, env, "down", "--volumes", "--yes", "--no-backup")
        if "1" in parts:
            (cold_a, cold_b), (warm_a, warm_b) = ([statistics.median(d[k]) for k in "ab"] for d in (colds, warms))
            migrated = next((line for line in log_b.splitlines() if "migrations" in line), "?")
            print(
                f"1. cold up (median of 2, each stack alone): without database {cold_a:.1f} s, with {cold_b:.1f} s "
                f"({cold_b - cold_a:+.1f} s; {migrated}); runs {colds}"
            )
            print(f"   warm up: without {warm_a:.1f} s, with {warm_b:.1f} s ({warm_b - warm_a:+.1f} s) {note}")
            print(
                "   the last cold up with the database, step by step:\n"
                + "\n".join(f"     {line}" for line in log_b.splitlines() if "healthy" in line or "database" in line),
                flush=True,
            )
        if parts == "1":
            return
        run(a_root, a_env, "up")
        run(b_root, b_env, "up")

        key = new_key(b_root, b_env, "bench")
        standby_ready(a_root, a_env, a_st["project_name"])
        standby_ready(b_root, b_env, b_st["project_name"])
        p50s: dict[str, tuple[float, float]] = {}
        if "2" in parts:
            sides: dict[str, list] = {"master key, no database": [], "virtual key, database": []}
            for _ in range(rounds):
                for name, (u, k) in (
                    ("master key, no database", (url(a_st), master_key(a_root))),
                    ("virtual key, database", (url(b_st), key)),
                ):
                    sides[name].append(run_load(u, k, rate=rate, duration=seconds, stream_share=0.2, models_share=0.0))
            print(f"2. {rate:g} req/s, {rounds} x {seconds:g} s in turns:")
            for name, results in sides.items():
                merged = [o for r in results for o in r.outcomes]
                lat = sorted(o.latency for o in merged if o.ok)
                p50, p99 = lat[len(lat) // 2] * 1000, lat[int(0.99 * (len(lat) - 1))] * 1000
                p50s[name] = (p50, p99)
                print(
                    f"   {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {sum(not o.ok for o in merged)} failed "
                    f"of {len(merged)} (rounds p50: {', '.join(f'{percentiles(r)[0]:.1f}' for r in results)})"
                )
            (a50, a99), (b50, b99) = p50s.values()
            print(f"   database: p50 {100 * (b50 / a50 - 1):+.1f} %, p99 {100 * (b99 / a99 - 1):+.1f} %", flush=True)

        if "3" not in parts:
            return
        # 3: sustained load on B alone, with a key of its own (its spend rows are this run's only)
        run(a_root, a_env, "down")
        key = new_key(b_root, b_env, "sustain")
        res = run_load(url(b_st), key, rate=50, duration=sustain, stream_share=0.2, models_share=0.0)
        procs = processes(b_st["project_name"])
        engines = [p for p in procs if "engine.mjs" in p[3]]
        workers = [p for p in procs if "gunicorn" in p[3] or "gwops_entry" in p[3] or "litellm" in p[3]]
        answered = sum(o.ok for o in res.outcomes)
        t0 = time.monotonic()
        rows = spend_rows(b_st["project_name"], "sustain")
        while rows < answered and time.monotonic() - t0 < 180:
            time.sleep(2)  # the spend writer's batches: polled with a deadline
            rows = spend_rows(b_st["project_name"], "sustain")
        print(f"3. 50 req/s for {sustain:g} s with a virtual key: {res.summary()}")
        print(
            f"   engine processes (adapter, one per worker's client): {len(engines)} in "
            f"{len({p[0] for p in engines})} containers; RSS "
            f"{', '.join(f'{p[1] / 1024:.0f}' for p in sorted(engines))} MB (max {max((p[1] for p in engines), default=0) / 1024:.0f} MB); "
            f"PSS {', '.join(f'{p[2] / 1024:.0f}' for p in sorted(engines))} MB"
        )
        print(
            f"   python processes (workers, their parents, standbys): RSS "
            f"{', '.join(f'{p[1] / 1024:.0f}' for p in sorted(workers))} MB"
        )
        print(
            f"   spend rows / requests answered: {rows} / {answered} = {rows / max(answered, 1):.4f} "
            f"({time.monotonic() - t0:.0f} s after the load ended)"
        )
        print(
            json.dumps(
                {
                    "cold_up": colds,
                    "warm_up": warms,
                    "p50_p99": p50s,
                    "engines": len(engines),
                    "spend_ratio": rows / max(answered, 1),
                },
                default=str,
            )
        )


if __name__ == "__main__":
    main()
