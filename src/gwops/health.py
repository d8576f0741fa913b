"""Health gates: the container's own healthcheck, then a real request to the application.

The checks every service shares live here (a container's healthcheck over all its replicas, an
exec that must answer, the gateway's readiness and one completion per route); what is particular
to a service is its component's gate (gwops.components). Everything is polled with a deadline.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gwops.docker import Docker
from gwops.errors import HealthError
from gwops.poll import Timeout, poll
from gwops.routecheck import RouteChecks

Say = Callable[[str], None]
READINESS_CHECK = "GET /health/readiness"


@dataclass
class Gate:
    service: str
    seconds: float  # from the start of its level to passing every check


def http_request(url: str, timeout: float, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a new connection (GET, or POST of `body` as JSON): status and text. The
    standard library's client: `up` starts without importing an HTTP package (httpx: 0.1-0.5 s).
    Raises OSError (http.client.HTTPException included) when there is no answer."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {**(headers or {}), **({"Content-Type": "application/json"} if data is not None else {})}
        conn.request("GET" if data is None else "POST", u.path or "/", body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    except http.client.HTTPException as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def answers(url: str) -> bool:
    """Whether `url` answers 200 within a second."""
    try:
        return http_request(url, 1)[0] == 200
    except OSError:
        return False


def gateway_url(bind: str, port: int) -> str:
    host = "127.0.0.1" if bind in ("0.0.0.0", "") else ("[::1]" if bind in ("::", "[::]") else bind)
    return f"http://{host}:{port}"


class Health:
    def __init__(self, docker: Docker, say: Say, timeout: float):
        self.docker, self.say, self.timeout = docker, say, timeout

    def fail(self, service: str, check: str, reason: str) -> HealthError:
        return HealthError(service, check, reason, logs=self.docker.tail_logs(service, 30))

    def container(
        self, service: str, hopeless: Callable[[Health, str], None] | None = None, ready: str | None = None
    ) -> None:
        """Wait for the healthcheck of every container of the service (each gateway replica) to
        report healthy; fail fast if one exits, or when `hopeless` (the component's) raises on
        the healthcheck's output (e.g. postgres refusing the password: that never heals). A
        running container whose first healthcheck is still to come counts as healthy once
        `ready` (a URL on its published port) answers 200."""

        def state() -> str | None:
            found = self.docker.replicas(service)
            if not found:
                raise self.fail(service, "container", "no container was created")
            pending = 0
            for c in found:
                st = c.attrs["State"]  # replicas() inspects each container: attrs are fresh
                if st.get("Status") in ("exited", "dead"):
                    raise self.fail(service, "container", f"container `{c.name}` exited with code {st.get('ExitCode')}")
                health = (st.get("Health") or {}).get("Status")
                log = ((st.get("Health") or {}).get("Log") or [{}])[-1].get("Output", "").strip()
                if hopeless is not None:
                    hopeless(self, log)
                if health == "unhealthy":
                    raise self.fail(service, "healthcheck", f"healthcheck of `{c.name}` reports unhealthy: {log[:300]}")
                if health == "starting" and ready and st.get("Running") and answers(ready):
                    health = "healthy"
                pending += health not in (None, "healthy")
            return None if pending else "ok"

        try:
            poll(state, self.timeout, 0.25)
        except Timeout:
            raise self.fail(service, "healthcheck", f"not healthy after {self.timeout:.0f} s") from None

    def exec_check(self, service: str, check: str, cmd: list[str], expect: str) -> None:
        last = ""

        def attempt() -> str | None:
            nonlocal last
            code, out = self.docker.exec(service, cmd)
            last = out.strip()[-300:]
            return "ok" if code == 0 and expect in out else None

        try:
            poll(attempt, min(self.timeout, 30), 0.5)
        except Timeout:
            raise self.fail(service, check, f"no valid answer: {last or '(empty)'}") from None

    def gateway(
        self,
        url: str,
        master_key: str,
        routes: RouteChecks,
        ready_timeout: float,
        route_timeout: float,
        service: str,
        container: Any = None,
    ) -> None:
        """Readiness, then one completion per route (an optional route that fails is recorded as
        degraded in `routes`). With `container` (the one `url` reaches), its exit fails the wait at
        once (used when not waiting for Docker's healthcheck first)."""
        svc = service
        last = ""

        def ready() -> str | None:
            nonlocal last
            if container is not None:
                container.reload()
                if container.status in ("exited", "dead"):
                    raise self.fail(svc, "container", f"`{container.name}` exited while starting")
            try:
                code, text = http_request(f"{url}/health/readiness", timeout=5)
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
                return None
            last = f"HTTP {code}: {text[:200]}"
            return "ok" if code == 200 else None

        try:
            poll(ready, ready_timeout, 0.25)
        except Timeout:
            raise self.fail(svc, READINESS_CHECK, f"not ready after {ready_timeout:.0f} s ({last})") from None
        headers = {"Authorization": f"Bearer {master_key}"}
        for route in routes.names:
            if route in routes.degraded:  # already found failing (an earlier replica)
                continue
            if route in routes.embeddings:  # a model that only embeds would refuse a chat
                path, body, want = "/v1/embeddings", {"model": route, "input": "ping"}, '"embedding"'
                check = f"embedding via `{route}`"
            else:
                path, want = "/v1/chat/completions", "choices"
                body = {"model": route, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
                check = f"chat completion via `{route}`"
            try:
                code, text = http_request(f"{url}{path}", route_timeout, body, headers)
                problem = None if code == 200 and want in text else f"HTTP {code}: {text[:300]}"
            except OSError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                continue
            if route in routes.optional:
                routes.degraded[route] = problem
                self.say(f"route `{route}`: degraded (its providers are optional): {problem[:200]}")
                continue
            raise HealthError(
                svc,
                check,
                problem,
                logs=self.docker.tail_logs(svc, 30),
                hint=f"is the provider behind `{route}` running? `bin/ops providers` checks them; "
                f"`bin/ops routes explain {route}`; `required: false` on the provider lets "
                "the stack serve without it; `--skip-route-checks` starts without this check",
            )

    def warm(self, url: str, master_key: str, route: str, n: int, timeout: float, service: str) -> None:
        """`n` concurrent streaming completions on new connections, so that every worker of a new
        gateway has served the longest path (a stream) before clients are switched to it: a fresh
        worker's first requests are its slowest. Any one that fails fails the gate."""
        from concurrent.futures import ThreadPoolExecutor

        import httpx

        body = {"model": route, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "stream": True}
        headers = {"Authorization": f"Bearer {master_key}"}

        def one(_: int) -> str | None:
            try:
                with httpx.stream(
                    "POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=timeout
                ) as r:
                    text = "".join(r.iter_text())
            except httpx.HTTPError as exc:
                return f"{type(exc).__name__}: {exc}"
            return None if r.status_code == 200 and "data: [DONE]" in text else f"HTTP {r.status_code}: {text[-300:]}"

        with ThreadPoolExecutor(n) as pool:
            problems = [p for p in pool.map(one, range(n)) if p]
        if problems:
            raise HealthError(
                service,
                f"streaming chat completion via `{route}`",
                problems[0],
                logs=self.docker.tail_logs(service, 30),
                hint=f"{len(problems)} of {n} streams failed; `bin/ops logs {service}`",
            )
