#!/usr/bin/env python3
"""Backup figures on a database with LiteLLM's schema and 1,000,000 spend-log rows.

In one run, in the same container: a raw `pg_dump -Fc > /dev/null`; our `backup` (plain dump,
zstd, sha256, row counts, fsync and atomic publish; verification excluded), as a separate
process whose peak RSS is read; the same at 100,000 rows, to show memory does not grow with
the data; then restore-and-verify. Targets (issue 4): backup <= 1.3x raw pg_dump, < 100 MB.
Run: .venv/bin/python bench/backup_bench.py [ROWS]
"""

from __future__ import annotations

import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

USER = DB = "litellm"


def backups(tmp: str, container, pw: str):
    from gwops.backup.dump import Target
    from gwops.backup.service import Backups
    from gwops.docker import Docker
    from gwops.project import Project
    from gwops.settings import BackupSettings as B
    from gwops.settings import StackSettings

    project = Project(Path(tmp))
    return Backups(
        project,
        StackSettings(backups=B(dir=str(Path(tmp) / "backups"))),
        Docker(project, "gwops-bench"),
        lambda m: None,
        target=Target(container, USER, DB, pw),
    )


def child(cid: str, pw: str, tmp: str) -> None:
    import docker

    c = docker.from_env().containers.get(cid)
    t0 = time.perf_counter()
    res = backups(tmp, c, pw).backup(verify=False, prune=False)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "size": res.manifest.files["dump.sql.zst"]["size"],
                "raw": res.manifest.raw_size,
                "id": res.manifest.id,
            }
        )
    )


def run_child(cid: str, pw: str, tmp: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", cid, pw, tmp], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    import docker
    from tests import pgseed

    from gwops.backup.dump import run
    from gwops.backup.verify import wait_ready
    from gwops.settings import StackSettings

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    small = rows // 10
    image = StackSettings().images.postgres.local
    pw = secrets.token_urlsafe(24)
    c = docker.from_env().containers.run(
        image, detach=True, environment={"POSTGRES_PASSWORD": pw, "POSTGRES_USER": USER, "POSTGRES_DB": DB}
    )
    try:
        wait_ready(c, USER, DB, 60)
        pgseed.apply_schema(c, USER, DB)
        with tempfile.TemporaryDirectory() as tmp:
            pgseed.seed_rows(c, USER, DB, small)
            at_small = run_child(c.id, pw, tmp)
            pgseed.seed_rows(c, USER, DB, rows - small, start=small + 1)
            t0 = time.perf_counter()
            code, _, err = run(c, ["sh", "-c", "pg_dump -Fc -U litellm litellm > /dev/null"], {})
            raw = time.perf_counter() - t0
            assert code == 0, err
            ours = run_child(c.id, pw, tmp)
            b = backups(tmp, c, pw)
            t0 = time.perf_counter()
            m = b.verify(ours["id"])
            verify_s = time.perf_counter() - t0
    finally:
        c.remove(force=True, v=True)
    print(
        f"{rows} spend-log rows: raw `pg_dump -Fc > /dev/null` {raw:.2f} s; "
        f"backup {ours['seconds']:.2f} s = {ours['seconds'] / raw:.2f}x (target <= 1.3x); "
        f"{ours['raw'] / 1e6:.0f} MB dump -> {ours['size'] / 1e6:.1f} MB zstd"
    )
    print(
        f"peak RSS of the backup process: {ours['rss_mb']:.0f} MB at {rows} rows, "
        f"{at_small['rss_mb']:.0f} MB at {small} rows (target < 100 MB, flat)"
    )
    print(f"restore-and-verify: {verify_s:.1f} s ({m.verification['status']}: {m.verification['detail']})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
