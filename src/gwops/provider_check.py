"""`bin/ops providers`: does every provider in providers.yaml answer, from the host and from the
gateway's network, how fast, and does it serve the models the config routes to it?

Each provider is asked for its model list (Ollama /api/tags, OpenAI-compatible /models) by the
same code on both sides (gwops.provider_http): on the host with the URL as written, and inside the
running gateway container with the URL the gateway uses (`localhost` there is the host, through
host.docker.internal). The difference between the two views is the classic trap: a server bound
to 127.0.0.1 answers the host and never the gateway.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gwops import envfile, provider_http, slots
from gwops.components import gateway
from gwops.config.models import Provider
from gwops.config.providers import REGISTRY, container_url, with_v1
from gwops.stack import Stack

LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass
class View:
    ok: bool
    ms: float | None
    error: str | None


@dataclass
class ProviderCheck:
    provider: str
    type: str
    url: str | None
    required: bool
    status: str  # active, disabled, ... (providers.yaml)
    state: str = "unchecked"  # up, down, gateway-cannot-reach, drift, built-in, disabled
    host: View | None = None
    gateway: View | None = None
    configured: list[str] = field(default_factory=list)
    served: list[str] | None = None
    not_served: list[str] = field(default_factory=list)  # configured, but the server does not list them
    not_routed: list[str] = field(default_factory=list)  # served, but no route uses them
    problem: str | None = None
    next: str | None = None


def models_url(kind: str, provider: Provider) -> str | None:
    ptype = REGISTRY[kind]
    base = provider.base_url or ptype.default_base_url
    if ptype.probe is None or not base:
        return None
    root = with_v1(base) if ptype.probe.v1 else base.rstrip("/")
    return root + ptype.probe.models_path


def request(pid: str, provider: Provider, url: str) -> dict[str, Any]:
    probe = REGISTRY[provider.type].probe
    assert probe is not None
    return {
        "name": pid,
        "url": url,
        "list_key": probe.list_key,
        "name_key": probe.name_key,
        "key_env": provider.api_key_env,
        "key_header": probe.key_header,
        "headers": dict(probe.extra_headers),
    }


def host_url(url: str) -> str:
    """On the host, `localhost` may resolve to ::1 first while a server listens on IPv4 only."""
    parts = urlsplit(url)
    if parts.hostname == "localhost":
        return urlunsplit(parts._replace(netloc=f"127.0.0.1{f':{parts.port}' if parts.port else ''}"))
    return url


def on_host_alias(url: str, alias: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{alias}{f':{parts.port}' if parts.port else ''}"))


def is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK or host == "host.docker.internal":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(providers: dict[str, Provider], env_file: Path, in_gateway: Any) -> list[ProviderCheck]:
    """Every provider, probed. `in_gateway(requests) -> dict | None` runs provider_http in the
    gateway container (None: no gateway running)."""
    env = envfile.read(env_file)
    out: list[ProviderCheck] = []
    host_reqs, gw_reqs = [], []
    for pid, p in sorted(providers.items()):
        url = models_url(p.type, p) if p.type in REGISTRY else None
        b = ProviderCheck(pid, p.type, url, p.required, p.status, configured=[m.name for m in p.models])
        out.append(b)
        if p.status != "active":
            b.state = "disabled" if p.status == "disabled" else p.status
            continue
        if url is None:
            b.state = "built-in" if p.type in REGISTRY and REGISTRY[p.type].probe is None else "unchecked"
            continue
        host_reqs.append(request(pid, p, host_url(url)))
        gw_reqs.append(request(pid, p, container_url(url)))
    host = {r["name"]: r for r in provider_http.run(host_reqs, env)["results"]} if host_reqs else {}
    gw_doc = in_gateway(gw_reqs) if gw_reqs else None
    gw = {r["name"]: r for r in gw_doc["results"]} if gw_doc else {}
    alias = (gw_doc or {}).get("host_alias")
    # a server the gateway cannot reach but the host can, on loopback: does it answer on the
    # address host.docker.internal points to, seen from the host? If not, it listens on 127.0.0.1 only
    recheck = [
        request(b.provider, providers[b.provider], on_host_alias(host_url(b.url), alias))
        for b in out
        if b.url
        and alias
        and is_local(b.url)
        and host.get(b.provider, {}).get("ok")
        and b.provider in gw
        and not gw[b.provider]["ok"]
    ]
    via_alias = {r["name"]: r for r in provider_http.run(recheck, env)["results"]} if recheck else {}
    for b in out:
        if b.provider not in host:
            continue
        h = host[b.provider]
        b.host = View(h["ok"], h["ms"], h["error"])
        g = gw.get(b.provider)
        b.gateway = View(g["ok"], g["ms"], g["error"]) if g else None
        answered = g if g and g["ok"] else (h if h["ok"] else None)
        if answered:
            b.served = answered["models"]
            if not (REGISTRY[b.type].probe.any_name and len(b.served or []) == 1):
                b.not_served = sorted(set(b.configured) - set(b.served or []))
                b.not_routed = sorted(set(b.served or []) - set(b.configured))
        judge(b, via_alias.get(b.provider), alias, in_gateway_running=gw_doc is not None)
    return out


def judge(b: ProviderCheck, via_alias: dict | None, alias: str | None, in_gateway_running: bool) -> None:
    """The provider's state and, for a problem, what to do."""
    h, g = b.host, b.gateway
    assert h is not None
    if g is not None and not g.ok and h.ok:
        b.state = "gateway-cannot-reach"
        if via_alias is not None and not via_alias["ok"]:
            b.problem = (
                f"listening on 127.0.0.1 only: the host reaches it, the gateway (through "
                f"host.docker.internal = {alias}) cannot"
            )
            b.next = (
                f"start the server bound to {alias} (the address the gateway reaches the host at; "
                "not 0.0.0.0, which also opens it to the LAN), or run it in the stack"
            )
        else:
            b.problem = f"the host reaches it, the gateway does not ({g.error})"
            b.next = "check the host firewall for traffic from Docker's networks to that port"
        return
    if not h.ok and (g is None or not g.ok):
        b.state = "down"
        where = "from the host or the gateway" if g is not None else "from the host"
        b.problem = f"does not answer {where}: {(g or h).error}"
        b.next = "start it (or fix `base_url` in config/providers.yaml); its routes " + (
            "fail: it is `required: true`" if b.required else "are degraded meanwhile (optional)"
        )
        return
    if b.not_served:
        b.state = "drift"
        b.problem = f"configured but not served: {', '.join(b.not_served)}"
        b.next = "load the model on the server (e.g. `ollama pull NAME`) or remove it from config/providers.yaml"
        return
    b.state = "up"
    if not in_gateway_running:
        b.next = "the gateway is not running: only the host's view was checked"


def gateway_probe(docker: Any, service: str):
    """The function that runs provider_http inside `service`'s container (None when not running)."""

    def run(requests: list[dict[str, Any]]) -> dict[str, Any] | None:
        c = docker.container(service)
        if c is None or c.status != "running":
            return None
        code, out = docker.exec(
            service, ["python3", "-c", Path(provider_http.__file__).read_text(), json.dumps(requests)]
        )
        if code != 0:
            return None
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None

    return run


def as_json(checks: list[ProviderCheck]) -> list[dict[str, Any]]:
    return [asdict(b) for b in checks]


def check_stack(stack: Stack) -> list[Any]:
    """Every provider of the config, probed from the host and from the serving gateway."""
    compiled = stack.compile(None)
    svc = gateway.service(slots.load(stack.project).active)
    return check(compiled.providers.providers, stack.project.env_file, gateway_probe(stack.docker, svc))
