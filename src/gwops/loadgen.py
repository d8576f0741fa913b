"""Load harness: open-loop constant arrival rate against an OpenAI-compatible endpoint.

A mix of non-streaming chat, streaming chat and `/v1/models`, half over a pooled keep-alive
client and half over a new connection per request. A failure is any refused, reset or timed-out
connection, any non-2xx, a stream that ends without `data: [DONE]`, or broken JSON. Each
response is tagged with the proxy slot (`X-Gwops-Slot`) that served it.

Used by the reload tests and benchmarks; `run_load` is synchronous and can run in a thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Outcome:
    i: int
    sent: float  # monotonic time the request was sent
    kind: str  # chat, stream, models
    conn: str  # pooled, new
    ok: bool
    latency: float
    slot: str = ""
    error: str = ""
    target: str = ""  # the URL it was sent to
    replica: str = ""  # the gateway replica that answered (the proxy's server name, `X-Gwops-Replica`)
    first_data: float | None = None  # seconds to the first bytes of the body (a stream's first chunk)


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def slots_in_order(self) -> list[str]:
        return [o.slot for o in sorted(self.outcomes, key=lambda o: o.sent) if o.ok and o.slot]

    def switches(self) -> int:
        """How often the serving slot changed, in the order requests were sent."""
        seq = self.slots_in_order()
        return sum(1 for a, b in zip(seq, seq[1:], strict=False) if a != b)

    def summary(self) -> str:
        lat = sorted(o.latency for o in self.outcomes if o.ok) or [0.0]

        def p(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000

        kinds = {k: sum(1 for o in self.outcomes if o.kind == k) for k in ("chat", "stream", "models")}
        return (
            f"{len(self.outcomes)} requests ({kinds}), {len(self.failures)} failed, "
            f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, {len(self.outcomes) / max(self.seconds, 1e-9):.1f} req/s"
        )


def _kind(i: int, stream_share: float, models_share: float) -> str:
    slot = (i * 7919) % 100 / 100  # deterministic, evenly spread
    if slot < stream_share:
        return "stream"
    if slot < stream_share + models_share:
        return "models"
    return "chat"


# Pooled connections idle this long are closed rather than reused, as httpx (the OpenAI SDK's
# client) does by default: a server may be closing them at that very moment.
KEEPALIVE_EXPIRY = 5.0


class _Conn:
    """One HTTP/1.1 connection on asyncio streams: a client this small costs a fraction of the
    CPU of a full-featured one, which matters when the harness shares two cores with the
    gateway it measures."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()
        self.first_data_at: float | None = None  # when the last response's body began

    @classmethod
    async def open(cls, host: str, port: int) -> _Conn:
        return cls(*await asyncio.open_connection(host, port))

    def close(self) -> None:
        self.writer.close()

    def where(self) -> str:
        """The client's end of the connection, to find it in a packet capture or a proxy log."""
        sock = self.writer.get_extra_info("sockname")
        return f" [client port {sock[1]}]" if sock else ""

    def reusable(self) -> bool:
        """False once the server has closed its side, or once it has been idle for KEEPALIVE_EXPIRY:
        reusing it could race the server's own idle timeout. Every HTTP client makes this check."""
        return time.monotonic() - self.idle_since < KEEPALIVE_EXPIRY and not (
            self.reader.at_eof() or self.writer.is_closing()
        )

    async def request(
        self, method: str, host: str, path: str, headers: dict[str, str], body: bytes | None, keep_alive: bool
    ) -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        self.first_data_at = None
        hdrs = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            data = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                self.first_data_at = self.first_data_at or time.monotonic()
                await self.reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await self.reader.read()
        self.first_data_at = self.first_data_at or time.monotonic()
        return status, hdrs, data


def _check(kind: str, status: int, data: bytes) -> str:
    """Empty string if the response is good, else what is wrong with it."""
    if not 200 <= status < 300:
        return f"HTTP {status}: {data[:120]!r}"
    if kind == "stream":
        done = False
        for line in data.decode().splitlines():
            if line.startswith("data: "):
                payload = line[6:].strip()
                if payload == "[DONE]":
                    done = True
                else:
                    json.loads(payload)  # broken JSON raises: a failure
        return "" if done else "stream ended without data: [DONE]"
    doc = json.loads(data)
    if kind == "models":
        return "" if isinstance(doc.get("data"), list) else "no data"
    return "" if doc.get("choices") else "no choices"


@dataclass
class _Sender:
    """Sends request `i` of the mix and records its outcome: the same for the open-loop schedule
    (`_run`) and the closed loop (`_run_closed`)."""

    urls: list[str]
    key: str
    stream_share: float
    models_share: float
    model: str
    timeout: float
    max_tokens: int | None = None
    result: LoadResult = field(default_factory=LoadResult)
    idle: dict[str, list[_Conn]] = field(default_factory=dict)  # per target, pooled connections not in use

    def close(self) -> None:
        for pool in self.idle.values():
            for c in pool:
                c.close()

    async def one(self, i: int, sent: float) -> None:
        kind = _kind(i, self.stream_share, self.models_share)
        pooled = i % 2 == 0
        # with several targets, pairs of requests (one pooled, one new) take turns
        url = self.urls[(i // 2) % len(self.urls)]
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        pool = self.idle.setdefault(url, [])
        conn_kind = "pooled" if pooled else "new"
        if kind == "models":
            method, path, body = "GET", "/v1/models", None
        else:
            payload: dict = {"model": self.model, "messages": [{"role": "user", "content": "ping"}]}
            if kind == "stream":
                payload["stream"] = True
            if self.max_tokens:
                payload["max_tokens"] = self.max_tokens
            method, path, body = "POST", "/v1/chat/completions", json.dumps(payload).encode()
        headers = {"Authorization": f"Bearer {self.key}"}
        conn = None
        slot, replica, err, reused, first = "", "", "", "", None
        t0 = time.monotonic()
        try:
            while pooled and pool and not pool[-1].reusable():
                pool.pop().close()
            if pooled and pool:
                conn = pool.pop()
                reused = f" (on a connection reused after {t0 - conn.idle_since:.1f} s idle)"
            else:
                conn = await asyncio.wait_for(_Conn.open(host, port), self.timeout)
            status, hdrs, data = await asyncio.wait_for(
                conn.request(method, f"{host}:{port}", path, headers, body, keep_alive=pooled), self.timeout
            )
            first = conn.first_data_at
            slot, replica = hdrs.get("x-gwops-slot", ""), hdrs.get("x-gwops-replica", "")
            err = _check(kind, status, data)
            if pooled and hdrs.get("connection", "").lower() != "close":
                conn.idle_since = time.monotonic()
                pool.append(conn)
                conn = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            err = (f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__) + reused + (conn.where() if conn else "")
        finally:
            if conn is not None:
                conn.close()
        self.result.outcomes.append(
            Outcome(
                i,
                sent,
                kind,
                conn_kind,
                not err,
                time.monotonic() - t0,
                slot,
                err,
                url,
                replica,
                first - t0 if first is not None and not err else None,
            )
        )


async def _run(
    urls: list[str],
    key: str,
    rate: float,
    duration: float,
    stream_share: float,
    models_share: float,
    model: str,
    timeout: float,
    stop: threading.Event | None,
) -> LoadResult:
    sender = _Sender(urls, key, stream_share, models_share, model, timeout)
    start = time.monotonic()
    tasks = []
    i = 0
    while time.monotonic() - start < duration and not (stop and stop.is_set()):
        due = start + i / rate  # open loop: the schedule never waits for responses
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(sender.one(i, time.monotonic())))
        i += 1
    await asyncio.gather(*tasks)
    sender.result.seconds = time.monotonic() - start
    sender.close()
    return sender.result


async def _run_closed(sender: _Sender, concurrency: int, duration: float) -> LoadResult:
    start = time.monotonic()
    counter = iter(range(10**9))

    async def worker() -> None:
        while time.monotonic() - start < duration:
            await sender.one(next(counter), time.monotonic())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sender.result.seconds = time.monotonic() - start
    sender.close()
    return sender.result


def run_closed(
    url: str,
    key: str,
    concurrency: int,
    duration: float,
    model: str,
    stream: bool = False,
    max_tokens: int | None = None,
    timeout: float = 120,
) -> LoadResult:
    """A closed loop: `concurrency` clients, each sending its next request (all chat, or all
    streamed) as soon as its last one ended, for `duration` seconds: the throughput a route holds
    at that concurrency, and its latency there."""
    sender = _Sender([url], key, 1.0 if stream else 0.0, 0.0, model, timeout, max_tokens)
    return asyncio.run(_run_closed(sender, concurrency, duration))


def run_load(
    url: str | list[str],
    key: str,
    rate: float = 50,
    duration: float = 10,
    stream_share: float = 0.2,
    models_share: float = 0.1,
    model: str = "gwops-echo",
    timeout: float = 30,
    stop: threading.Event | None = None,
) -> LoadResult:
    """Send `rate` requests per second for `duration` seconds (or until `stop` is set). With several
    URLs, the requests take turns among them (same schedule, same mix): comparisons in one run."""
    urls = [url] if isinstance(url, str) else list(url)
    return asyncio.run(_run(urls, key, rate, duration, stream_share, models_share, model, timeout, stop))


class Background:
    """Run the harness in a thread: `with Background(...) as bg: ...; bg.result`."""

    def __init__(self, url: str, key: str, **kw: object):
        self.stop = threading.Event()
        self.result: LoadResult | None = None
        self._thread = threading.Thread(target=self._go, args=(url, key, kw), daemon=True)

    def _go(self, url: str, key: str, kw: dict) -> None:
        self.result = run_load(url, key, duration=kw.pop("duration", 3600), stop=self.stop, **kw)  # type: ignore[arg-type]

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(120)
