"""A crash costs no new request: gateway replicas behind the proxy, and the data services.

Under the load harness (20 requests/s, 20% streaming, through the proxy on the public port):
- `kill -9` of one gateway replica's main process (from the host: a crash, so Docker's restart
  policy applies), then of the other one once the first is back in rotation and at least 10 s
  later. What may fail: requests in flight on the killed replica, and those its kernel still
  accepted while its processes were being torn down (the listening socket closes last: about
  0.3-0.7 s here). The proxy cannot tell those from requests a gateway had started, and never
  replays a request that reached one. Every request sent later than DYING after a kill succeeds.
- negative control: with `gateway.replicas: 1` the same kill fails requests sent after it.
- a crash of redis (its main process killed) and postgres paused for 10 s: the gateway serves
  throughout or fails only for their duration, and everything comes back by itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gwops import slots
from gwops.docker import Docker
from gwops.loadgen import Background, LoadResult
from gwops.poll import Timeout, poll
from gwops.project import Project
from gwops.proxy import Proxy
from tests.integration.conftest import master_key, ops, set_gateway

pytestmark = pytest.mark.integration
RATE = 20
DYING = 1.0  # seconds after a kill during which the dying replica may still accept connections


def _up(copy, replicas: int) -> tuple[Path, dict[str, str], str, Docker]:
    root, env = copy
    s = set_gateway(root, replicas=replicas)
    r = ops(root, env, "up")
    assert r.returncode == 0, r.stderr
    return root, env, f"http://127.0.0.1:{s['gateway']['port']}", Docker(Project(root), s["project_name"])


def _virtual_key(root: Path, env: dict[str, str], alias: str) -> str:
    """A key of LiteLLM's database (not the master key): the load reads keys and writes spend."""
    r = ops(root, env, "keys", "create", "--alias", alias)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _serving(root: Path) -> tuple[str, str]:
    """The serving slot and its service (the other slot's replicas wait as standbys and serve nothing)."""
    slot = slots.load(Project(root)).active
    return slot, f"gateway-{slot}"


def _crash(docker: Docker, service: str, replica: int = 0) -> tuple[float, Any]:
    """SIGKILL to the container's main process from the host, as a crash or the OOM killer would:
    Docker's restart policy applies (a `docker kill` counts as a manual stop and is not restarted).
    Returns the time of the kill and the container."""
    c = docker.replicas(service)[replica]
    os.kill(int(c.attrs["State"]["Pid"]), signal.SIGKILL)
    return time.monotonic(), c


def _back(proxy: Proxy, slot: str, c: Any, want: int, timeout: float = 180) -> float:
    """Once Docker has restarted the killed container, it is healthy, and the proxy has `want`
    replicas in rotation."""
    restarts = int(c.attrs.get("RestartCount") or 0)

    def restarted() -> bool | None:
        """Restarted by Docker and healthy again (its health starts over at `starting`)."""
        c.reload()
        healthy = (c.attrs["State"].get("Health") or {}).get("Status") == "healthy"
        return True if int(c.attrs.get("RestartCount") or 0) > restarts and healthy else None

    try:
        poll(restarted, timeout, 0.1)
        poll(lambda: True if (s := proxy.stats().get(slot)) is not None and s.up >= want else None, timeout, 0.1)
    except Timeout:
        c.reload()
        raise AssertionError(
            f"`{c.name}` not back: {c.status}, restarts {c.attrs.get('RestartCount')}, "
            f"health {(c.attrs['State'].get('Health') or {}).get('Status')}; proxy: "
            f"{proxy.stats().get(slot)}\n{proxy.docker.tail_logs('proxy', 15)}\n"
            f"{proxy.docker.tail_logs(c.labels['com.docker.compose.service'], 15)}"
        ) from None
    return time.monotonic()


def _split(res: LoadResult, t: float) -> tuple[list, list, list]:
    """Failures of requests in flight at `t`, sent within DYING after it, and sent later."""
    during = [o for o in res.failures if o.sent <= t <= o.sent + o.latency]
    dying = [o for o in res.failures if t < o.sent <= t + DYING]
    after = [o for o in res.failures if o.sent > t + DYING]
    return during, dying, after


def _hold(seconds: float) -> None:
    """Keep the load running this long (a measurement window, not a wait for a condition)."""
    t0 = time.monotonic()
    poll(lambda: True if time.monotonic() - t0 >= seconds else None, seconds + 5, 0.2)


def _describe(fails: list) -> str:
    return "; ".join(f"{o.kind}/{o.conn} {o.error[:80]}" for o in fails[:5])


def test_a_crashed_gateway_replica_costs_no_new_request(copy):
    root, env, url, docker = _up(copy, replicas=2)
    proxy = Proxy(docker)
    slot, svc = _serving(root)
    assert len(docker.replicas(svc)) == 2 and proxy.stats()[slot].up == 2
    with Background(url, _virtual_key(root, env, "crash-load"), rate=RATE, stream_share=0.2) as bg:
        _hold(10)  # steady load first (a freshly started gateway's first requests are its slowest)
        in_flight_1 = proxy.stats()[slot].sessions
        k1, c1 = _crash(docker, svc, 0)
        back1 = _back(proxy, slot, c1, 2)
        # the other replica, at least 10 s after the first and once the first serves again
        _hold(max(0.0, 10 - (time.monotonic() - k1)))
        in_flight_2 = proxy.stats()[slot].sessions
        k2, c2 = _crash(docker, svc, 1)
        back2 = _back(proxy, slot, c2, 2)
        _hold(3)  # and after the recovery
    res = bg.result
    assert res is not None
    print(res.summary())
    for n, (k, back, flight) in enumerate([(k1, back1, in_flight_1), (k2, back2, in_flight_2)], 1):
        during, dying, _after = _split(res, k)
        print(
            f"replica {n}: {flight} requests in flight through the proxy at the kill; failed: {len(during)} "
            f"in flight, {len(dying)} sent within {DYING:g} s after; back in rotation after {back - k:.1f} s"
        )
    # nothing else failed: every other request, before, between and after the kills, succeeded
    allowed = {o.i for k in (k1, k2) for o in [*_split(res, k)[0], *_split(res, k)[1]]}
    late = [o for o in res.failures if o.i not in allowed]
    assert late == [], _describe(late)
    assert {o.replica for o in res.outcomes if o.ok} >= {"gw1", "gw2"}
    status = json.loads(ops(root, env, "status", "--json").stdout)
    row = next(r for r in status["services"] if r["service"] == svc)
    assert row["replicas"] == "2/2" and row["restarts"] == 2, row


def test_negative_control_a_single_gateway_fails_requests_when_it_crashes(copy):
    """The same kill with `replicas: 1`: the harness sees requests fail until Docker has restarted
    it and it is ready, so the test above could see failures if there were any."""
    root, env, url, docker = _up(copy, replicas=1)
    _slot, svc = _serving(root)
    assert docker.replicas(svc), svc
    with Background(url, master_key(root), rate=RATE, stream_share=0.2) as bg:
        _hold(3)
        k, _c = _crash(docker, svc)
        _hold(10)
    res = bg.result
    assert res is not None
    print(res.summary())
    assert len(_split(res, k)[2]) > 0  # requests sent well after the kill failed


def test_data_services_crash_or_stall_and_come_back(copy):
    """Redis crashes (main process killed; Docker restarts it) and Postgres is paused for 10 s,
    under load: failures only while each is away, and `status` is healthy again after."""
    root, env, url, docker = _up(copy, replicas=2)
    key = _virtual_key(root, env, "stall-load")
    figures = {}
    for case in ("redis-crash", "postgres-pause"):
        with Background(url, key, rate=RATE, stream_share=0.2) as bg:
            _hold(3)
            start = time.monotonic()
            if case == "redis-crash":
                _crash(docker, "redis")
                poll(lambda: True if _healthy(docker, "redis") else None, 60, 0.2)
            else:
                subprocess.run(["docker", "pause", docker.container("postgres").id], check=True, capture_output=True)
                _hold(10)
                subprocess.run(["docker", "unpause", docker.container("postgres").id], check=True, capture_output=True)
            end = time.monotonic()
            _hold(5)  # serving after it is back
        res = bg.result
        assert res is not None
        late = [o for o in res.failures if o.sent > end + 1]
        figures[case] = (
            f"{res.summary()}; away {end - start:.1f} s; failed while away "
            f"{len(res.failures) - len(late)}; failed after {len(late)}"
        )
        assert late == [], f"{case}: {_describe(late)}"
    print(figures)
    st = poll(
        lambda: s if (s := json.loads(ops(root, env, "status", "--json").stdout))["overall"] == "healthy" else None,
        60,
        1,
    )
    assert st["overall"] == "healthy"


def _healthy(docker: Docker, service: str) -> bool:
    c = docker.container(service)
    return c is not None and (c.attrs["State"].get("Health") or {}).get("Status") == "healthy"
