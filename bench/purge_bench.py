#!/usr/bin/env python3
"""A purge of ROWS old spend-log rows under load (issue 26): a stack with the database on, a
virtual key sending RATE requests/s (20 % streaming) through the public port. ROWS copies of a
real spend-log row, 100 days old, are inserted; then the load runs STEADY seconds without a
purge (the reference), then `bin/ops purge` runs under the same load. Prints the purge's wall
time and rows, p50/p99 steady and during the purge (target: p99 within 1.5x), the failed requests
(target 0), and the database's size before and after (VACUUM (ANALYZE) keeps the space for reuse;
the file does not shrink).
The copies carry an empty `metadata` (LiteLLM writes about 9 KB of JSON there per request, 3.6 KB
on disk compressed: a million real rows take half an hour to insert on 2 cores); FULL=1 keeps it.
Run: [FULL=1] .venv/bin/python bench/purge_bench.py [ROWS] [RATE] [STEADY]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from _stack import container, ops, pct_in, run, stack_copy  # noqa: E402

from gwops.loadgen import Background  # noqa: E402


def psql(project: str, sql: str) -> str:
    pg = container(project, "postgres")
    out = subprocess.run(
        [
            "docker",
            "exec",
            pg,
            "sh",
            "-c",
            'exec psql -X -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"',
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        sys.exit(out.stderr)
    return out.stdout.strip()


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    steady = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    full = os.environ.get("FULL") == "1"
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        run(root, env, "up")
        project = st["project_name"]
        key = ops(root, env, "keys", "create", "--alias", "bench").stdout.strip()
        url = f"http://127.0.0.1:{st['gateway']['port']}"
        from gwops.loadgen import run_load

        run_load(url, key, rate=5, duration=3)  # a real row to copy
        deadline = time.monotonic() + 60
        while psql(project, 'SELECT count(*) FROM "LiteLLM_SpendLogs"') == "0":
            if time.monotonic() > deadline:
                sys.exit("no spend-log row was written")
            time.sleep(1)  # LiteLLM flushes spend in batches
        t0 = time.monotonic()
        cols = psql(
            project,
            "SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_name = 'LiteLLM_SpendLogs'",
        ).split(",")
        override = {
            '"request_id"': "'old-' || g",
            "request_id": "'old-' || g",
            '"startTime"': "(now() AT TIME ZONE 'UTC') - interval '100 days'",
        }
        if not full:
            override["metadata"] = "'{}'::jsonb"
        values = ", ".join(override.get(c, f"s.{c}") for c in cols)
        psql(
            project,
            f'INSERT INTO "LiteLLM_SpendLogs" ({", ".join(cols)}) SELECT {values} '
            f'FROM (SELECT * FROM "LiteLLM_SpendLogs" LIMIT 1) s, generate_series(1, {rows}) g',
        )
        psql(project, 'VACUUM (ANALYZE, PARALLEL 0) "LiteLLM_SpendLogs"')
        size0 = int(psql(project, "SELECT pg_database_size(current_database())"))
        print(
            f"inserted {rows} rows of 100 days ago ({'full' if full else 'empty'} metadata) in "
            f"{time.monotonic() - t0:.0f} s; database {size0 / 1e6:.0f} MB",
            flush=True,
        )
        with Background(url, key, rate=rate, stream_share=0.2, models_share=0.0) as bg:
            s0 = time.monotonic()
            time.sleep(steady)  # the reference window: the same load, no purge
            p0 = time.monotonic()
            r = ops(root, env, "purge", "--json")
            p1 = time.monotonic()
            if r.returncode != 0:
                sys.exit(f"purge failed ({r.returncode}):\n{r.stderr}")
        res = bg.result
        out = json.loads(r.stdout)
        steady99, during99 = pct_in(res, 0.99, (s0 + 5, p0)), pct_in(res, 0.99, (p0, p1))
        print(f"load: {res.summary()}")
        print(f"purge: {sum(out['rows'].values())} rows in {p1 - p0:.1f} s ({out['rows']})")
        print(
            f"steady: p50 {pct_in(res, 0.5, (s0 + 5, p0)):.1f} ms, p99 {steady99:.1f} ms; during the purge: "
            f"p50 {pct_in(res, 0.5, (p0, p1)):.1f} ms, p99 {during99:.1f} ms = {during99 / max(steady99, 1e-9):.2f}x (target <= 1.5x)"
        )
        print(
            f"database: {size0 / 1e6:.0f} MB before, {out['bytes_after'] / 1e6:.0f} MB after (VACUUM keeps the space for reuse)"
        )
        print(f"failed requests: {len(res.failures)} (target 0)")


if __name__ == "__main__":
    main()
