"""`bin/ops profile`: latency and throughput per route at several concurrencies, routes side by
side, on the project's load generator (gwops.loadgen's closed loop): for each route and each
concurrency C, C clients each send their next request as soon as the last one ended, for a
fixed time. Each step: requests, failures, throughput, total latency p50/p95/p99 and time to
the first token (streams) or first byte p50/p95. The chart is drawn in text (a bar per step).

A route whose provider bills per token (a cloud API, or an OpenAI-compatible server that needs
a key) is only profiled when the caller says yes to the costs: `estimate` says how many
requests and tokens at most.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from gwops.loadgen import LoadResult, run_closed

BILLED_TYPES = frozenset({"openai", "anthropic", "azure", "bedrock", "vertex_ai", "gemini"})
# a request of the profile: a short prompt, at most this many tokens out
PROMPT_TOKENS = 12
# a cloud route answers in about a second: the estimate's requests per client per second (high)
REQUESTS_PER_CLIENT_SECOND = 2.0


@dataclass
class Step:
    route: str
    concurrency: int
    requests: int
    failed: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    first_p50_ms: float | None  # streams: the first chunk; else the first byte of the answer
    first_p95_ms: float | None
    error: str = ""  # the first failure's error, when some failed


FIELDS = tuple(Step.__dataclass_fields__)


def _q(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 1) if s else 0.0


def step(route: str, concurrency: int, res: LoadResult) -> Step:
    ok = [o for o in res.outcomes if o.ok]
    firsts = [o.first_data for o in ok if o.first_data is not None]
    lat = [o.latency for o in ok]
    return Step(
        route,
        concurrency,
        len(res.outcomes),
        len(res.failures),
        round(len(ok) / max(res.seconds, 1e-9), 1),
        _q(lat, 0.5),
        _q(lat, 0.95),
        _q(lat, 0.99),
        _q(firsts, 0.5) if firsts else None,
        _q(firsts, 0.95) if firsts else None,
        res.failures[0].error[:200] if res.failures else "",
    )


def billed(provider_types: dict[str, str], keyed: set[str], route_providers: dict[str, list[str]]) -> dict[str, str]:
    """The routes whose provider bills per token, with that provider: a cloud type, or an
    OpenAI-compatible server that needs a key."""
    out = {}
    for route, providers in route_providers.items():
        for p in providers:
            if provider_types.get(p) in BILLED_TYPES or (provider_types.get(p) == "openai_compatible" and p in keyed):
                out[route] = p
                break
    return out


def estimate(routes: int, concurrencies: Iterable[int], duration: float, max_tokens: int) -> tuple[int, int]:
    """At most how many requests, and tokens (in and out), a profile of `routes` routes sends to a
    provider that answers in about half a second."""
    requests = int(routes * sum(concurrencies) * duration * REQUESTS_PER_CLIENT_SECOND)
    return requests, requests * (PROMPT_TOKENS + max_tokens)


def run(
    url: str,
    key: str,
    routes: list[str],
    concurrencies: list[int],
    duration: float,
    stream: bool,
    max_tokens: int,
    progress: Callable[[str], None],
) -> list[Step]:
    """Every route at every concurrency, in turns (a route's steps one after another)."""
    out = []
    for route in routes:
        for c in concurrencies:
            progress(f"{route}: {c} client{'s' if c > 1 else ''} for {duration:g} s")
            res = run_closed(url, key, c, duration, route, stream=stream, max_tokens=max_tokens)
            out.append(step(route, c, res))
    return out


def as_dicts(steps: list[Step]) -> list[dict[str, Any]]:
    return [asdict(s) for s in steps]


def chart(steps: list[Step], width: int = 40) -> list[str]:
    """A text chart: per route, a bar per concurrency for p50 latency and one for throughput."""
    if not steps:
        return []
    lat_max = max(s.p50_ms for s in steps) or 1.0
    rps_max = max(s.rps for s in steps) or 1.0
    name_w = max(len(s.route) for s in steps)
    lines = [
        f"{'route':<{name_w}}  clients  p50 latency (bar: up to {lat_max:.0f} ms) | throughput (up to {rps_max:.1f}/s)"
    ]
    for s in steps:
        lat = "#" * max(1, round(width * s.p50_ms / lat_max)) if s.p50_ms else ""
        rps = "=" * max(1, round(width / 2 * s.rps / rps_max)) if s.rps else ""
        lines.append(
            f"{s.route:<{name_w}}  {s.concurrency:>7}  {lat:<{width}} {s.p50_ms:>8.1f} ms | {rps:<{width // 2}} {s.rps:>7.1f}/s"
        )
    return lines
