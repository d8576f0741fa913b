"""The gateway's Prometheus metrics, served from a process of their own.

With several workers, LiteLLM's counters live in prometheus_client's multiprocess files
(`PROMETHEUS_MULTIPROC_DIR`): a scrape of `/metrics` on the serving port reads every worker's
files inside the worker that got the scrape, 10-20 ms during which that worker's event loop
serves nobody. LiteLLM's `--prometheus_metrics_port` moves the scrape to a process of its own, but
that process imports LiteLLM (seconds of CPU on every start of a replica) and asks for no key.

`gwops_entry.py` takes that flag and starts this instead: the standard library and
prometheus_client only (well under a second to start), at a lower CPU priority than the
workers, and the same key as LiteLLM's own `/metrics` (`Authorization: Bearer <master key>`).
It exits when the process that started it is gone.

A standby replica (its config file not there yet: see gwops_entry.py) answers
`gwops_gateway_standby 1` and nothing else, so Prometheus and the alert rules tell it from a
serving replica.

Run: python3 gwops_metrics.py PORT MULTIPROC_DIR [CONFIG]
"""

from __future__ import annotations

import hmac
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATHS = ("/metrics", "/metrics/")
NICENESS = 10  # the workers come first on a busy host


def authorized(header: str | None, key: str) -> bool:
    """The master key as a bearer token (no key set: LiteLLM asks for none either)."""
    if not key:
        return True
    return hmac.compare_digest((header or "").encode(), f"Bearer {key}".encode())


STANDBY = (
    b"# HELP gwops_gateway_standby 1: this replica waits for a config (a standby), it serves nothing\n"
    b"# TYPE gwops_gateway_standby gauge\ngwops_gateway_standby 1\n"
)


def make_handler(multiproc_dir: str, key: str, config: str | None = None) -> type[BaseHTTPRequestHandler]:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=multiproc_dir)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] not in PATHS:
                return self.answer(404, b"not found: /metrics only\n")
            if not authorized(self.headers.get("Authorization"), key):
                return self.answer(401, b"the gateway's key is needed: Authorization: Bearer <LITELLM_MASTER_KEY>\n")
            if config and not os.path.exists(config):
                return self.answer(200, STANDBY, CONTENT_TYPE_LATEST)
            return self.answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)

        def answer(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # scrapes are not access-logged
            pass

    return Handler


def exit_with_parent() -> None:
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> None:
    port, multiproc_dir, config = int(argv[1]), argv[2], (argv[3] if len(argv) > 3 else None)
    os.nice(NICENESS)
    exit_with_parent()
    handler = make_handler(multiproc_dir, os.environ.get("LITELLM_MASTER_KEY", ""), config)
    server = ThreadingHTTPServer(("0.0.0.0", port), handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
