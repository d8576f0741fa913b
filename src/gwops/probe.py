"""`bin/ops probe`: what each route can do, tried through the gateway as a client would.

For every route (or the ones named): chat, streaming (time to first token, tokens/s),
embeddings, tool calling and JSON mode, each `yes`, `no` (the route answered without the
capability, or said it does not support it) or `error` (it failed: the reason is kept). The matrix
goes to state/capabilities.json and, for the dashboards and alerts, to the toolkit's metrics.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gwops import envfile, metrics, slots
from gwops.components import gateway
from gwops.config import ensembles
from gwops.errors import HealthError, UsageError
from gwops.fsutil import atomic_write
from gwops.stack import Stack
from gwops.status import gateway_status

CAPABILITIES = ("chat", "streaming", "embeddings", "tools", "json_mode")
FILE = "capabilities.json"


@dataclass
class Result:
    state: str  # yes, no, error
    reason: str = ""


@dataclass
class RouteProbe:
    route: str
    results: dict[str, Result] = field(default_factory=dict)
    ttft_seconds: float | None = None
    tokens_per_second: float | None = None


def _verdict(r: httpx.Response, capability: str) -> Result | None:
    """None when the answer is a 200. A client error (4xx other than auth, not-found and rate
    limits) to anything but plain chat means the route refuses that feature: `no`; the rest is
    `error`. The reason is kept either way."""
    if r.status_code == 200:
        return None
    reason = f"HTTP {r.status_code}: {r.text[:300]}"
    if capability != "chat" and 400 <= r.status_code < 500 and r.status_code not in (401, 403, 404, 429):
        return Result("no", reason)
    return Result("error", reason)


def _chat(client: httpx.Client, route: str, capability: str, **extra: Any) -> tuple[Result | None, dict[str, Any]]:
    body = {
        "model": route,
        "messages": [{"role": "user", "content": extra.pop("prompt", "Say OK.")}],
        "max_tokens": 32,
        **extra,
    }
    r = client.post("/v1/chat/completions", json=body)
    bad = _verdict(r, capability)
    if bad:
        return bad, {}
    try:
        return None, r.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Result("error", f"not a chat completion: {r.text[:200]}"), {}


def probe_chat(client: httpx.Client, p: RouteProbe) -> None:
    bad, msg = _chat(client, p.route, "chat")
    if bad:
        p.results["chat"] = bad
    elif not (msg.get("content") or "").strip():
        p.results["chat"] = Result("error", "HTTP 200 with an empty answer")
    elif _looks_like_error(msg["content"]):
        # some upstreams (OptiLLM's moa/bon) answer 200 with the error as the text: a failure
        p.results["chat"] = Result("error", f"HTTP 200, but the answer is an error: {msg['content'][:200]}")
    else:
        p.results["chat"] = Result("yes")


def _looks_like_error(text: str) -> bool:
    t = text.strip().lower()
    return t.startswith(("error:", "error code:", "an error occurred")) or "exception:" in t[:80]


def probe_stream(client: httpx.Client, p: RouteProbe) -> None:
    body = {
        "model": p.route,
        "messages": [{"role": "user", "content": "Count from 1 to 20."}],
        "max_tokens": 48,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    t0 = time.monotonic()
    first = last = None
    chunks, usage = 0, None
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            r.read()
            p.results["streaming"] = _verdict(r, "streaming") or Result("error", f"HTTP {r.status_code}")
            return
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            try:
                doc = json.loads(line[6:])
            except ValueError:
                continue
            usage = doc.get("usage") or usage
            delta = ((doc.get("choices") or [{}])[0].get("delta") or {}).get("content")
            if delta:
                now = time.monotonic()
                first = first or now
                last = now
                chunks += 1
    if first is None:
        p.results["streaming"] = Result("error", "the stream carried no content")
        return
    p.ttft_seconds = round(first - t0, 4)
    tokens = (usage or {}).get("completion_tokens") or chunks
    span = (last or first) - first
    p.tokens_per_second = round(tokens / span, 1) if span > 0 and tokens > 1 else None
    one = "the answer came as one chunk (not streamed)"
    if p.route.startswith(ensembles.PREFIX):
        one += ": OptiLLM never streams, an ensemble sends its whole answer at the end"
    p.results["streaming"] = Result("yes" if chunks > 1 else "no", "" if chunks > 1 else one)


def probe_embeddings(client: httpx.Client, p: RouteProbe) -> None:
    r = client.post("/v1/embeddings", json={"model": p.route, "input": "ping"})
    bad = _verdict(r, "embeddings")
    if bad:
        p.results["embeddings"] = bad
        return
    try:
        vec = r.json()["data"][0]["embedding"]
        p.results["embeddings"] = Result("yes", f"{len(vec)} dimensions") if vec else Result("no", "empty vector")
    except (ValueError, KeyError, IndexError, TypeError):
        p.results["embeddings"] = Result("error", f"not an embedding answer: {r.text[:200]}")


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def probe_tools(client: httpx.Client, p: RouteProbe) -> None:
    bad, msg = _chat(client, p.route, "tools", prompt="What is the weather in Paris? Use the tool.", tools=[TOOL])
    if bad:
        p.results["tools"] = bad
    elif msg.get("tool_calls"):
        p.results["tools"] = Result("yes", msg["tool_calls"][0].get("function", {}).get("name", ""))
    else:
        p.results["tools"] = Result("no", "answered without a tool call")


def probe_json(client: httpx.Client, p: RouteProbe) -> None:
    bad, msg = _chat(
        client,
        p.route,
        "json_mode",
        prompt='Reply with the JSON object {"ok": true} and nothing else.',
        response_format={"type": "json_object"},
    )
    if bad:
        p.results["json_mode"] = bad
        return
    try:
        ok = isinstance(json.loads(msg.get("content") or ""), dict)
    except ValueError:
        ok = False
    p.results["json_mode"] = Result("yes") if ok else Result("no", "the answer is not a JSON object")


PROBES = {
    "chat": probe_chat,
    "streaming": probe_stream,
    "embeddings": probe_embeddings,
    "tools": probe_tools,
    "json_mode": probe_json,
}


def run(url: str, key: str, routes: list[str], timeout: float, say) -> list[RouteProbe]:
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as client:
        for route in routes:
            say(f"probing `{route}`")
            p = RouteProbe(route)
            for cap, fn in PROBES.items():
                try:
                    fn(client, p)
                except httpx.HTTPError as exc:
                    p.results[cap] = Result("error", f"{type(exc).__name__}: {exc}"[:300])
            out.append(p)
    return out


def as_json(probes: list[RouteProbe]) -> dict[str, Any]:
    return {
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "routes": {
            p.route: {
                "capabilities": {c: asdict(r) for c, r in p.results.items()},
                "ttft_seconds": p.ttft_seconds,
                "tokens_per_second": p.tokens_per_second,
            }
            for p in probes
        },
    }


def save(state_dir: Path, probes: list[RouteProbe]) -> None:
    """state/capabilities.json, replaced atomically."""
    atomic_write(state_dir / FILE, json.dumps(as_json(probes), indent=2) + "\n")


def samples(probes: list[RouteProbe]) -> list[tuple[str, dict[str, str], float]]:
    """The matrix as metrics: 1 yes, 0 no, -1 error per route and capability; stream timings."""
    value = {"yes": 1, "no": 0, "error": -1}
    out: list[tuple[str, dict[str, str], float]] = []
    for p in probes:
        for cap, r in p.results.items():
            out.append(("gwops_probe_capability", {"route": p.route, "capability": cap}, value[r.state]))
        if p.ttft_seconds is not None:
            out.append(("gwops_probe_ttft_seconds", {"route": p.route}, p.ttft_seconds))
        if p.tokens_per_second is not None:
            out.append(("gwops_probe_tokens_per_second", {"route": p.route}, p.tokens_per_second))
    out.append(("gwops_probe_last_timestamp_seconds", {}, round(time.time(), 3)))
    return out


def probe_stack(stack: Stack, routes: list[str]) -> list[RouteProbe]:
    """Every route (or those named) tried through the public port; the matrix is written to
    state/capabilities.json and to the toolkit's metrics."""
    key = envfile.read(stack.project.env_file).get("LITELLM_MASTER_KEY", "")
    live = gateway_status(stack, slots.load(stack.project), stack.docker.all_containers())
    if live.get("error") or not live["routes"]:
        raise HealthError(
            gateway.service(live["active_slot"]),
            "GET /v1/models",
            live.get("error") or "the gateway is not running",
            hint="`bin/ops up` starts it; `bin/ops status` says what is wrong",
        )
    unknown = sorted(set(routes) - set(live["routes"]))
    if unknown:
        raise UsageError(f"no such route: {', '.join(unknown)}", hint=f"routes: {', '.join(live['routes'])}")
    found = run(
        stack.url,
        key,
        routes or [r for r in live["routes"] if "*" not in r],
        stack.settings.gateway.route_check_timeout,
        stack.say,
    )
    save(stack.project.state_dir, found)
    metrics.write_samples(stack.project, "probe", samples(found))
    return found
