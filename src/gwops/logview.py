"""`bin/ops logs --json`: the services' log lines as one JSON record each, merged by time.

A record: `time` (Docker's timestamp of the line, UTC, nanoseconds), `service`, `container`, and
either `fields` (a line that is a JSON object: the proxy's access log, LiteLLM's JSON logs) or
`message` (any other line). History is merged in time order; followed lines come as they are
written.
"""

from __future__ import annotations

import heapq
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

Lines = Iterable[tuple[str, str]]  # (Docker's RFC 3339 timestamp, line)


class Containers(Protocol):
    def all_containers(self, service: str | None = None) -> dict[str, list[Any]]: ...

    @staticmethod
    def log_lines(container: Any, since: float | None = None) -> Lines: ...


def service_lines(docker: Containers, prefix: str, since: float) -> Iterator[str]:
    """The lines of every container whose service starts with `prefix`, from a Unix time on."""
    for svc, found in docker.all_containers().items():
        if svc.startswith(prefix):
            for c in found:
                yield from (text for _stamp, text in docker.log_lines(c, since))


def json_object(line: str) -> dict[str, Any] | None:
    """The line as a JSON object (the proxy's access log, LiteLLM's JSON logs), or None."""
    if not line.startswith("{"):
        return None
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def message(line: str) -> str:
    """A JSON log line's message (LiteLLM's JSON logs), or the line."""
    parsed = json_object(line)
    return str(parsed.get("message", line)) if parsed is not None else line


def readable(line: str) -> str:
    """A log line for a person: a JSON one (LiteLLM's) as `LEVEL message`, its stack trace as
    the exception's last line (the whole trace stays in `bin/ops logs`); any other line as it is."""
    parsed = json_object(line)
    if parsed is None or "message" not in parsed:
        return line
    out = f"{parsed.get('level', '')} {parsed['message']}".strip()
    trace = str(parsed.get("stacktrace") or "").strip().splitlines()
    return f"{out} [{trace[-1].strip()}]" if trace else out


def mentioning(lines: Iterable[str], needle: str, most: int = 20) -> list[str]:
    """The messages of the first `most` lines that name `needle` (a request ID)."""
    out: list[str] = []
    for line in lines:
        if needle in line:
            out.append(message(line))
            if len(out) >= most:
                break
    return out


def stamp(raw: str) -> str:
    """Docker's RFC 3339 timestamp with exactly nine fraction digits (it drops trailing zeros),
    so that records sort by time as strings."""
    body = raw.rstrip("Z")
    whole, _, frac = body.partition(".")
    return f"{whole}.{frac[:9].ljust(9, '0')}Z"


def record(service: str, container: str, raw_stamp: str, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"time": stamp(raw_stamp), "service": service, "container": container}
    fields = json_object(text)
    if fields is not None:
        out["fields"] = fields
        return out
    out["message"] = text
    return out


# Docker interleaves a container's stdout and stderr as it reads them: a line can come a little
# after a later one of the other stream. Each source is re-sorted within this many lines.
REORDER_WINDOW = 1000


def _in_order(records: Iterable[dict[str, Any]], window: int = REORDER_WINDOW) -> Iterator[dict[str, Any]]:
    """`records` by time, for records at most `window` places from where they belong."""
    heap: list[tuple[str, int, dict[str, Any]]] = []
    for n, r in enumerate(records):
        heapq.heappush(heap, (r["time"], n, r))
        if len(heap) > window:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def merged(sources: dict[tuple[str, str], Lines]) -> Iterator[dict[str, Any]]:
    """History: every source's records, in time order."""

    def records(svc: str, name: str, lines: Lines) -> Iterator[dict[str, Any]]:
        return _in_order(record(svc, name, s, t) for s, t in lines)

    return heapq.merge(*(records(svc, name, lines) for (svc, name), lines in sources.items()), key=lambda r: r["time"])


def followed(sources: dict[tuple[str, str], Callable[[], Lines]]) -> Iterator[dict[str, Any]]:
    """Live: records as any source writes them (a reader thread per container)."""
    q: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=10_000)

    def read(svc: str, name: str, open_lines: Callable[[], Lines]) -> None:
        try:
            for s, t in open_lines():
                q.put(record(svc, name, s, t))
        finally:
            q.put(None)

    for (svc, name), open_lines in sources.items():
        threading.Thread(target=read, args=(svc, name, open_lines), daemon=True).start()
    running = len(sources)
    while running:
        r = q.get()
        if r is None:
            running -= 1
        else:
            yield r
