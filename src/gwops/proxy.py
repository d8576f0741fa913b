"""The front proxy's runtime API (HAProxy), reached with `docker exec` inside its container:
switch the active slot with one `set map`, read per-slot health, sessions and error counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from gwops.docker import Docker
from gwops.errors import OpsError
from gwops.poll import Timeout, poll

SERVICE = "proxy"  # its compose service (the proxy component's name)

MAP = "/usr/local/etc/haproxy/slot.map"
# bash's /dev/tcp: the command travels in an environment variable, the images need no socat
READ_TIMEOUT = 5.0  # seconds a read command is tried again while its answer comes back incomplete
CLIENT = 'exec 3<>/dev/tcp/127.0.0.1/9999 && printf "%s\\n" "$GWOPS_CMD" >&3 && cat <&3'


def _responses(row: dict[str, str]) -> int:
    return sum(int(row.get(f"hrsp_{k}xx") or 0) for k in range(1, 6))


@dataclass
class SlotStats:
    """One slot's backend: totals over its replicas, and each replica's state."""

    servers: dict[str, str]  # replica server (gw1, gw2, ...) -> status: UP, DOWN, MAINT (no address), ...
    sessions: int  # current sessions on the slot's gateways
    requests: int  # HTTP responses so far
    errors: int  # 5xx responses so far
    conn_errors: int  # connections to it that failed

    @property
    def up(self) -> int:
        """Replicas in rotation."""
        return sum(1 for st in self.servers.values() if st.startswith(("UP", "no check")))

    @property
    def reachable(self) -> bool:
        return self.up > 0

    @property
    def status(self) -> str:
        return f"{self.up}/{len(self.servers)} replicas up"


class Proxy:
    def __init__(self, docker: Docker):
        self.docker = docker

    def cmd(self, command: str) -> str:
        code, out = self.docker.exec(SERVICE, ["bash", "-c", CLIENT], env={"GWOPS_CMD": command})
        if code != 0:
            raise OpsError(
                f"the proxy's runtime API did not answer `{command}`: {out.strip()[-200:]}",
                hint="check `bin/ops status` and `bin/ops logs proxy`",
            )
        return out

    def read(self, command: str, complete: Callable[[str], bool]) -> str:
        """A read command's answer, read again while it is not `complete`: under load, one read
        in about 2,000 comes back empty (exit 0, no output: measured with 10,000 `show stat`
        during reloads), and an empty answer must not read as "no backend" or "no slot"."""
        last, timeout = "", READ_TIMEOUT

        def attempt() -> str | None:
            nonlocal last
            last = self.cmd(command)
            return last if complete(last) else None

        try:
            return poll(attempt, timeout, 0.1)
        except Timeout:
            raise OpsError(
                f"the proxy's runtime API gave no complete answer to `{command}` within {timeout:g} s "
                f"(last answer: {last.strip()[:120]!r})",
                hint="check `bin/ops status` and `bin/ops logs proxy`",
            ) from None

    def active(self) -> str | None:
        for line in self.read(f"show map {MAP}", lambda out: bool(out.strip())).splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "active":
                return parts[2].removeprefix("slot_")
        return None

    def switch(self, slot: str) -> None:
        """Point new requests at `slot`, read back: an answer lost under load (see `read`) looks
        like success, so the switch counts once the map says so."""

        def switched() -> bool | None:
            out = self.cmd(f"set map {MAP} active slot_{slot}")
            if out.strip():
                raise OpsError(f"the proxy refused to switch to `{slot}`: {out.strip()}")
            return True if self.active() == slot else None

        try:
            poll(switched, READ_TIMEOUT, 0.1)
        except Timeout:
            raise OpsError(
                f"the proxy did not switch to slot `{slot}` within {READ_TIMEOUT:g} s",
                hint="check `bin/ops status` and `bin/ops logs proxy`",
            ) from None

    def stats(self) -> dict[str, SlotStats]:
        text = self.read("show stat", lambda out: out.startswith("# pxname") and out.endswith("\n\n")).lstrip("# ")
        out: dict[str, SlotStats] = {}
        for row in csv.DictReader(io.StringIO(text)):
            px = row.get("pxname", "")
            if not px.startswith("slot_"):
                continue
            st = out.setdefault(px.removeprefix("slot_"), SlotStats({}, 0, 0, 0, 0))
            sv = row.get("svname", "")
            if sv == "BACKEND":
                st.sessions, st.requests = int(row.get("scur") or 0), _responses(row)
                st.errors, st.conn_errors = int(row.get("hrsp_5xx") or 0), int(row.get("econ") or 0)
            elif sv.startswith("gw"):  # the checked servers (the unchecked `spare` ones are a fallback)
                st.servers[sv] = row.get("status", "")
        return out

    def pid(self) -> str:
        return next(
            (
                line.split(":", 1)[1].strip()
                for line in self.read("show info", lambda out: "Pid:" in out).splitlines()
                if line.startswith("Pid:")
            ),
            "",
        )

    def reload_config(self, timeout: float) -> None:
        """HAProxy's own graceful reload (master-worker mode, SIGUSR2): a new worker reads the
        config files (slot.map included) and the old one finishes the connections it has."""
        old = self.pid()
        self.docker.signal(SERVICE, "SIGUSR2")
        try:
            poll(lambda: True if self.pid() not in ("", old) else None, timeout, 0.25)
        except (Timeout, OpsError):
            raise OpsError(
                f"the proxy did not load its new configuration within {timeout:.0f} s",
                hint="read `bin/ops logs proxy`; `docker compose restart proxy` applies it too",
            ) from None

    def wait_up(self, slot: str, timeout: float, replicas: int = 1) -> None:
        """Until the proxy has `replicas` of the slot's gateways in rotation (their addresses
        resolved on the Compose network and their liveness checks passed)."""
        last: SlotStats | None = None

        def enough() -> bool | None:
            nonlocal last
            last = self.stats().get(slot)
            return True if last is not None and last.up >= replicas else None

        try:
            poll(enough, timeout, 0.25)
        except Timeout:
            seen = last.status if last else "no backend"
            raise OpsError(
                f"the proxy does not have {replicas} replica(s) of gateway slot `{slot}` in rotation "
                f"after {timeout:.0f} s ({seen})",
                hint="check `bin/ops status` and `bin/ops logs proxy`",
            ) from None

    def wait_drained(self, slot: str, timeout: float) -> bool:
        try:
            poll(lambda: True if (s := self.stats().get(slot)) is None or s.sessions == 0 else None, timeout, 0.25)
            return True
        except Timeout:
            return False
