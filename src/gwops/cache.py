"""`bin/ops cache stats|keys|flush`: LiteLLM's response cache in the stack's Redis.

The generated config gives the cache its own namespace (NAMESPACE: every cached answer is a key
`gwops-cache:<hash>`), so the cache is told apart from the router's cooldowns, rate-limit counters
and locks in the same Redis, and a flush never touches those. The keys are read with one Lua
script each time (SCAN inside Redis: one round trip, never a `KEYS *`), capped at `LIMIT` keys.
Which model a cached answer is for is read from the answer itself (its `"model"`). Hit rates come
from LiteLLM's spend logs (`cache_hit` per request) when the database is on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from gwops.constants import CACHE_NAMESPACE as NAMESPACE
from gwops.errors import OpsError

SERVICE = "redis"
LIMIT = 100_000  # keys a command looks at; more are counted, not listed

# KEYS: none. ARGV: pattern, limit, model (or "" for all), delete ("1" or "0"). Returns the number
# of matching keys and, for up to `limit` of them, key, TTL, size and the model the answer names.
SCRIPT = r"""
local cursor, n, out = "0", 0, {}
local limit, want, delete = tonumber(ARGV[2]), ARGV[3], ARGV[4] == "1"
repeat
  local r = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local v = redis.call("GET", k) or ""
    local model = string.match(v, 'model\\?"%s*:%s*\\?"([^"\\]+)') or ""
    if want == "" or model == want then
      n = n + 1
      if #out < limit * 4 then
        table.insert(out, k)
        table.insert(out, redis.call("TTL", k))
        table.insert(out, #v)
        table.insert(out, model)
      end
      if delete then redis.call("UNLINK", k) end
    end
  end
until cursor == "0" or (not delete and n >= limit)
return {n, out}
"""


class DockerExec(Protocol):
    def exec(self, service: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]: ...


@dataclass
class Entry:
    key: str
    ttl: int  # seconds left (-1: none)
    bytes: int
    model: str


@dataclass
class Scan:
    count: int
    entries: list[Entry] = field(default_factory=list)

    def per_model(self) -> list[dict[str, Any]]:
        by: dict[str, list[Entry]] = {}
        for e in self.entries:
            by.setdefault(e.model or "?", []).append(e)
        return [
            {
                "model": m,
                "keys": len(es),
                "bytes": sum(e.bytes for e in es),
                "ttl_min": min(e.ttl for e in es),
                "ttl_max": max(e.ttl for e in es),
            }
            for m, es in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]


def _cli(docker: DockerExec, password: str, *args: str) -> str:
    """redis-cli in the Redis container; the password in its environment (REDISCLI_AUTH), never
    in a process argument."""
    code, out = docker.exec(SERVICE, ["redis-cli", "--no-auth-warning", *args], env={"REDISCLI_AUTH": password})
    if code != 0 or out.startswith(("ERR", "NOAUTH", "WRONGPASS")):
        raise OpsError(
            f"Redis refused `{args[0]}`: {out.strip()[-300:]}",
            hint="`bin/ops status`: is Redis running, and REDIS_PASSWORD in `.env` its password?",
        )
    return out


def parse_scan(out: str) -> Scan:
    """redis-cli's raw reply to SCRIPT: the count, then key, TTL, size, model per entry."""
    lines = out.splitlines()
    if not lines or not lines[0].strip().lstrip("-").isdigit():
        raise OpsError(f"unexpected answer from Redis: {out[:200]}", hint="`bin/ops logs redis`")
    rest = lines[1:]
    entries = [Entry(rest[i], int(rest[i + 1]), int(rest[i + 2]), rest[i + 3]) for i in range(0, len(rest) - 3, 4)]
    return Scan(int(lines[0]), entries)


def scan(docker: DockerExec, password: str, model: str = "", delete: bool = False, limit: int = LIMIT) -> Scan:
    out = _cli(
        docker, password, "--raw", "EVAL", SCRIPT, "0", f"{NAMESPACE}:*", str(limit), model, "1" if delete else "0"
    )
    return parse_scan(out)


def memory(docker: DockerExec, password: str) -> dict[str, int]:
    """Redis' memory and its lookups since it started (every lookup: the cache's and the router's)."""
    info = _cli(docker, password, "INFO")
    vals = dict(re.findall(r"^(used_memory|maxmemory|keyspace_hits|keyspace_misses):(\d+)", info, re.MULTILINE))
    return {k: int(v) for k, v in vals.items()}


HITS_SQL = (
    "SELECT COALESCE(NULLIF(model_group, ''), model), count(*), "
    "count(*) FILTER (WHERE cache_hit = 'True') FROM \"LiteLLM_SpendLogs\" "
    "WHERE \"startTime\" >= '{since}' GROUP BY 1 ORDER BY 2 DESC, 1"
)


def hits(docker: DockerExec, service: str, env: dict[str, str], since: dt.datetime) -> list[dict[str, Any]]:
    """Per route since `since`: requests, answers from the cache, hit rate (LiteLLM's spend logs)."""
    sql = HITS_SQL.format(since=since.strftime("%Y-%m-%d %H:%M:%S"))
    code, out = docker.exec(service, ["psql", "-X", "-At", "-F", "\t", "-c", sql], env=env)
    if code != 0:
        raise OpsError(f"reading the spend logs failed: {out.strip()[-300:]}", hint="`bin/ops status`")
    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            n, hit = int(parts[1]), int(parts[2])
            rows.append({"route": parts[0], "requests": n, "cache_hits": hit, "hit_rate": round(hit / n, 4)})
    return rows
