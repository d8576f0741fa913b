"""Which gateway slot serves, with which config version, since when (`state/gateway.json`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from gwops.components.gateway import SLOTS
from gwops.fsutil import atomic_write
from gwops.project import Project


@dataclass
class SlotState:
    active: str = SLOTS[0]
    versions: dict[str, str] = field(default_factory=dict)  # slot -> config version it runs/ran
    live_since: str | None = None  # when the active slot's version went live
    history: list[dict[str, str]] = field(default_factory=list)  # earlier live versions, newest last

    @property
    def idle(self) -> str:
        return next(s for s in SLOTS if s != self.active)

    @property
    def version(self) -> str | None:
        return self.versions.get(self.active)

    def went_live(self, slot: str, version: str) -> None:
        if self.version and self.live_since:
            self.history = [*self.history, {"version": self.version, "live_since": self.live_since}][-20:]
        self.active = slot
        self.versions[slot] = version
        self.live_since = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def path(project: Project):
    return project.state_dir / "gateway.json"


def load(project: Project) -> SlotState:
    try:
        data = json.loads(path(project).read_text())
        st = SlotState(**data)
        if st.active not in SLOTS:
            return SlotState()
        return st
    except (OSError, ValueError, TypeError):
        return SlotState()


def save(project: Project, st: SlotState) -> None:
    atomic_write(path(project), json.dumps(asdict(st), indent=2, sort_keys=True) + "\n")
