"""`top`: a terminal dashboard to leave open (Textual), or one snapshot (`--once`, `--json`).

The snapshot is gwops.top's; this module lays it out. Textual is imported only when the dashboard
opens (it takes 0.4 s to import: every other command would pay it)."""

from __future__ import annotations

import sys
from typing import Any

import click

from gwops import constants as C
from gwops.cli.app import App
from gwops.cli.cmd_keys import JSON, table

pass_app = click.make_pass_decorator(App)

# each table of the dashboard: its columns, as (snapshot key, heading)
ROUTES = (
    ("route", "route"),
    ("rps", "req/s"),
    ("error_rate", "errors"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("tokens_per_s", "tokens/s"),
    ("spend_today", "spend today"),
)
SLOTS = (
    ("slot", "slot"),
    ("role", "role"),
    ("state", "state"),
    ("health", "health"),
    ("replicas", "replicas ready"),
    ("proxy_up", "up at the proxy"),
    ("restarts", "restarts"),
)
PROVIDERS = (("route", "route"), ("provider", "provider"), ("api_base", "api base"), ("state", "state"))
ALERTS = (("alert", "alert"), ("state", "state"), ("severity", "severity"), ("since", "since"), ("summary", "summary"))
FAILED = (
    ("time", "time (UTC)"),
    ("id", "request ID"),
    ("route", "route"),
    ("http_status", "HTTP"),
    ("key", "key"),
    ("replica", "replica"),
)
TABLES = {"routes": ROUTES, "slots": SLOTS, "providers": PROVIDERS, "alerts": ALERTS, "failed": FAILED}


@click.command()
@click.option(
    "--interval", default=5.0, show_default=True, type=click.FloatRange(min=1), help="Seconds between refreshes."
)
@click.option("--once", is_flag=True, help="Print one snapshot and exit (no dashboard).")
@JSON
@pass_app
def top(app: App, interval: float, once: bool, as_json: bool) -> int:
    """A dashboard to leave open: per route requests/s, error rate, p50/p99 latency and tokens/s;
    the gateway's slots and replicas; the providers as LiteLLM's router sees them; alerts firing;
    spend today (the database on); the last failed requests with their request IDs.

    It reads Prometheus and the toolkit's state every `--interval` seconds and says what it
    cannot read (monitoring off, Prometheus not answering, the database off). `q` quits.
    `--once` prints one snapshot as tables instead, `--json` as JSON."""
    if not (once or as_json or (sys.stdin.isatty() and sys.stdout.isatty())):
        raise click.UsageError("the dashboard needs a terminal; `bin/ops top --once --json` prints one snapshot")
    collector, project = _collector(app)
    if once or as_json:
        try:
            snap = collector.collect()
        finally:
            collector.close()
        if as_json:
            app.json(snap.as_dict())
        else:
            _print(app, snap)
        return C.EXIT_OK
    try:
        dashboard(collector, interval, f"gwops top · {project}").run()
    finally:
        collector.close()
    return C.EXIT_OK


def _collector(app: App) -> tuple[Any, str]:
    """The snapshots' collector for this checkout's stack, and the stack's project name."""
    from gwops import top as core
    from gwops.admin import parse_since
    from gwops.cli.cmd_requests import open_request_log
    from gwops.stack import Stack

    stack = Stack(app.project, lambda _message: None)  # the dashboard owns the screen: nothing on stderr

    def open_log() -> Any:
        since = parse_since("1h")
        return open_request_log(app, since, None, None, None, "failed")[0]

    window = core.rate_window(stack.settings.monitoring.scrape_interval)
    return core.Collector(core.stack_sources(stack, open_log), window=window), stack.project_name


def cell(value: Any, key: str = "") -> str:
    if value is None or value == "":
        return "-"
    if key == "error_rate":
        return f"{value:.1%}"
    if key == "spend_today":
        return f"${value:.4f}"
    if key == "time" and isinstance(value, str):
        return value.replace("T", " ")[:23]
    return str(value)


def status_line(snap: Any, interval: float | None = None) -> str:
    every = f" · every {interval:g} s" if interval else ""
    return f"{snap.taken_at} (read in {snap.took_ms} ms){every} · rates over {snap.window}"


def headings(snap: Any) -> dict[str, str]:
    """Each table's title, with what it knows in one line."""
    g = snap.gateway
    spend = snap.spend_today
    return {
        "routes": "routes" + (f" · spend today ${spend['spend']:.4f} in {spend['requests']} requests" if spend else ""),
        "slots": "gateway"
        + (f" · slot `{g['active']}` serves config {g['version'] or '-'} since {g['live_since'] or '-'}" if g else ""),
        "providers": "providers (deployments, as LiteLLM's router sees them)",
        "alerts": "alerts" + (" · none pending or firing" if snap.alerts == [] else ""),
        "failed": "last failed requests (`bin/ops requests --id <ID>` tells more)",
    }


def rows(snap: Any, name: str) -> list[dict[str, Any]]:
    if name == "slots":
        return snap.gateway["slots"] if snap.gateway else []
    return getattr(snap, name) or []


def _print(app: App, snap: Any) -> None:
    app.out.print(status_line(snap), markup=False)
    for line in snap.missing:
        app.out.print(f"missing: {line}", markup=False)
    titles = headings(snap)
    for name, columns in TABLES.items():
        found = [{h: cell(r.get(k), k) for k, h in columns} for r in rows(snap, name)]
        table(app, titles[name], found, tuple(h for _, h in columns))


def dashboard(collector: Any, interval: float, title: str = "gwops top") -> Any:
    """The Textual app: a status line (when, and what is missing), then one table per section.
    `collector.collect()` runs in a thread of its own every `interval` seconds (a refresh still
    running is not doubled); the screen changes only when a snapshot arrives."""
    import threading

    from rich.text import Text
    from textual.app import App as TextualApp
    from textual.app import ComposeResult
    from textual.binding import Binding
    from textual.containers import VerticalScroll
    from textual.widgets import DataTable, Footer, Static

    class Top(TextualApp[None]):
        TITLE = title
        ENABLE_COMMAND_PALETTE = False
        CSS = """
        #status { height: auto; padding: 0 1; background: $panel; }
        #missing { height: auto; padding: 0 1; color: $warning; }
        .heading { padding: 1 1 0 1; text-style: bold; }
        DataTable { height: auto; max-height: 14; }
        """
        BINDINGS = [Binding("q", "quit_top", "quit"), Binding("r", "refresh_now", "refresh now")]

        def __init__(self) -> None:
            super().__init__()
            self.wake = threading.Event()  # set: a refresh is due (ticks while one runs become one)
            self.snapshot: Any = None
            self.shown: dict[str, Any] = {}  # what each widget shows: one that would not change is left alone

        def compose(self) -> ComposeResult:
            yield Static(f"{title} · reading…", id="status", markup=False)
            yield Static("", id="missing", markup=False)
            with VerticalScroll():
                for name in TABLES:
                    yield Static(name, classes="heading", id=f"{name}-heading", markup=False)
                    yield DataTable(id=name, cursor_type="none", show_cursor=False)
            yield Footer()

        def on_mount(self) -> None:
            for name, columns in TABLES.items():
                self.query_one(f"#{name}", DataTable).add_columns(*(h for _, h in columns))
            # a daemon thread, not a Textual worker: `q` quits at once even while a read waits on
            # a source that does not answer (Textual's exit waits for its workers' threads)
            threading.Thread(target=self.read, name="gwops-top-read", daemon=True).start()
            self.action_refresh_now()
            self.set_interval(interval, self.action_refresh_now)

        def action_quit_top(self) -> None:
            self.exit(return_code=0)

        def action_refresh_now(self) -> None:
            self.wake.set()

        def read(self) -> None:
            while True:
                self.wake.wait()
                self.wake.clear()
                try:
                    snap = collector.collect()
                except Exception as exc:  # noqa: BLE001 - shown on the screen; the next refresh tries again
                    snap = exc
                try:
                    self.call_from_thread(self.show, snap)
                except RuntimeError:  # the app has closed
                    return

        def show(self, snap: Any) -> None:
            status, missing = self.query_one("#status", Static), self.query_one("#missing", Static)
            if isinstance(snap, Exception):
                missing.update(f"refresh failed: {type(snap).__name__}: {snap} (a bug: please report it)")
                return
            self.snapshot = snap
            status.update(f"{title} · {status_line(snap, interval)} · q quits")
            missing.update("\n".join(f"missing: {m}" for m in snap.missing) or "every source answers")
            titles = headings(snap)
            for name, columns in TABLES.items():
                # redrawing a table costs a few milliseconds a cell: only a changed one is redrawn
                found = [tuple(cell(r.get(k), k) for k, _ in columns) for r in rows(snap, name)]
                if self.shown.get(name) != (titles[name], found):
                    self.shown[name] = (titles[name], found)
                    self.query_one(f"#{name}-heading", Static).update(titles[name])
                    t = self.query_one(f"#{name}", DataTable)
                    t.clear()
                    t.add_rows([tuple(Text(c) for c in r) for r in found])

    return Top()


COMMANDS = [top]
