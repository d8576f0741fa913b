"""Entry point of the local LiteLLM image: `litellm` with the same arguments, plus one guard.

CPython before 3.12 runs its cyclic garbage collector from inside object allocation. When a
collection starts inside `ContextVar.set()` (which allocates nodes of the context's HAMT) and a
finalizer run by that collection sets a context variable itself, the outer set carries on with
nodes that were just freed, and the process dies with SIGSEGV in `hamt_node_bitmap_clone`
(CPython gh-148891). Debian bookworm's python3 is 3.11.2: under load, a LiteLLM worker died this
way every few minutes, and every request it was serving failed.

From 3.12 on, collections run only between bytecodes, where this cannot happen; the official
image (Python 3.12 or later) needs nothing. Here, in each process that serves requests (a gunicorn worker,
or the single uvicorn process), automatic collection is turned off and the same thresholds are
applied from the event loop between callbacks, every TICK seconds. The objects that exist once
the app has started (modules, the router, the config) are frozen out of collection, so a full
collection only walks what was allocated since.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import time

TICK = 0.05  # seconds between checks: garbage waits at most this long past its threshold
METRICS_FLAG = "--prometheus_metrics_port"
MULTIPROC_DIR = "/tmp/litellm_prometheus_multiproc"  # LiteLLM's own default, empty at each start


def collect_if_due(thresholds: tuple[int, int, int]) -> int | None:
    """The collection CPython would have started by now, if any: once the youngest generation's
    count is over its threshold, the oldest generation over its own. Returns the one collected."""
    counts = gc.get_count()
    if counts[0] <= thresholds[0]:
        return None
    gen = next(g for g in (2, 1, 0) if g == 0 or counts[g] > thresholds[g])
    gc.collect(gen)
    return gen


def guard(loop: asyncio.AbstractEventLoop) -> None:
    """Collect only between event-loop callbacks from now on, in this process."""
    thresholds = gc.get_threshold()
    gc.disable()

    def tick() -> None:
        try:
            collect_if_due(thresholds)
        finally:
            loop.call_later(TICK, tick)

    loop.call_later(TICK, tick)


def install() -> None:
    """Patch uvicorn's server start (gunicorn's UvicornWorker runs it too) to guard its process."""
    if sys.version_info >= (3, 12):
        return
    try:
        from uvicorn.server import Server
    except ImportError:
        print("gwops: uvicorn not found, garbage-collection guard not installed", file=sys.stderr)
        return
    startup = Server.startup

    async def guarded_startup(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        guard(asyncio.get_running_loop())
        print(
            f"gwops: process {os.getpid()} collects garbage between event-loop callbacks "
            "(guard against CPython gh-148891, see /opt/gwops/gwops_entry.py)",
            file=sys.stderr,
            flush=True,
        )
        await startup(self, *args, **kwargs)
        gc.freeze()

    Server.startup = guarded_startup  # type: ignore[method-assign]


def quiet_access_log() -> None:
    """Turn off the workers' access log (uvicorn's, one plain-text line per request and per
    health check: four a second per replica from the proxy alone). The front proxy logs every
    request as JSON with its ID (haproxy.cfg), so this one only cost the workers CPU.
    GWOPS_ACCESS_LOG=1 keeps it."""
    try:
        from uvicorn.server import Server
    except ImportError:
        return
    startup = Server.startup

    async def quiet_startup(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        logging.getLogger("uvicorn.access").disabled = True
        await startup(self, *args, **kwargs)

    Server.startup = quiet_startup  # type: ignore[method-assign]


def take_metrics_port(argv: list[str]) -> tuple[list[str], int | None]:
    """`argv` without `--prometheus_metrics_port N` (or `=N`), and N."""
    out, port, it = [], None, iter(argv)
    for arg in it:
        if arg == METRICS_FLAG:
            port = int(next(it))
        elif arg.startswith(METRICS_FLAG + "="):
            port = int(arg.split("=", 1)[1])
        else:
            out.append(arg)
    return out, port


def start_metrics(port: int, config: str | None) -> None:
    """Our metrics process on `port`; the workers write their multiprocess files where it reads
    (set before LiteLLM or prometheus_client is imported, so even one worker writes them)."""
    multiproc_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", MULTIPROC_DIR)
    os.makedirs(multiproc_dir, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.Popen(
        [
            sys.executable,
            os.path.join(here, "gwops_metrics.py"),
            str(port),
            multiproc_dir,
            *([config] if config else []),
        ]
    )


def option(argv: list[str], name: str) -> str | None:
    """The value of `name VALUE` or `name=VALUE` in argv."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def standby(config: str | None) -> None:
    """With no config yet: import what every start imports, then wait for the config."""
    if not config or os.path.exists(config):
        return
    t0 = time.monotonic()
    import litellm.proxy.proxy_server  # noqa: F401 (the import is the point: its cost is paid now)

    print(
        f"gwops: standby: LiteLLM imported in {time.monotonic() - t0:.1f} s; waiting for {config}",
        file=sys.stderr,
        flush=True,
    )
    while not os.path.exists(config):
        time.sleep(0.1)
    print(f"gwops: {config} is there: starting", file=sys.stderr, flush=True)


def skip_schema_diff() -> None:
    """With a database, LiteLLM's start either migrates (`prisma migrate deploy`) or, with
    DISABLE_SCHEMA_UPDATE, runs `prisma migrate diff --from-url <DATABASE_URL>`: the password in a
    process argument, a Node start and a schema engine this image does not have. `bin/ops up`
    applies the migrations before any gateway starts (gwops.migrations), so the diff is skipped."""
    if not os.environ.get("DATABASE_URL"):
        return
    try:
        from litellm.proxy.db import check_migration
    except ImportError:
        return

    def skipped(db_url: str | None = None) -> None:
        print(
            "gwops: LiteLLM's schema diff skipped: migrations are applied by `bin/ops up` before the gateway starts",
            file=sys.stderr,
            flush=True,
        )

    check_migration.check_prisma_schema_diff = skipped  # type: ignore[assignment]


def main() -> None:
    if os.environ.get("GWOPS_GC_GUARD", "1") != "0":  # GWOPS_GC_GUARD=0: plain `litellm`, for comparisons
        install()
    if os.environ.get("GWOPS_ACCESS_LOG", "0") != "1":
        quiet_access_log()
    sys.argv, metrics_port = take_metrics_port(sys.argv)
    config = option(sys.argv, "--config")
    if metrics_port is not None:
        start_metrics(metrics_port, config)
    standby(config)
    skip_schema_diff()
    from litellm import run_server

    sys.argv[0] = "litellm"
    sys.exit(run_server())


if __name__ == "__main__":
    main()
