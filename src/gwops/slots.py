"""Which gateway slot serves, with which config version, since when (`state/gateway.json`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gwops.constants import SLOTS
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


# -- what each slot's containers read: state/slots/<slot>/config.yaml ---------------------------------
# The compose service of a slot mounts its folder, never a version's file: a slot's containers do
# not change with the version, so the idle slot can wait as a standby (see gwops_entry.py) and
# take the next version in place of a cold start.
def folder(project: Project, slot: str) -> Path:
    return project.state_dir / "slots" / slot


def config_path(project: Project, slot: str) -> Path:
    return folder(project, slot) / "config.yaml"


def prepare(project: Project) -> None:
    """Both slots' folders, made by us before Compose mounts them (Docker would make them root's)."""
    for s in SLOTS:
        folder(project, s).mkdir(parents=True, exist_ok=True)
        folder(project, s).chmod(0o755)


def arm(project: Project, slot: str, version: str) -> None:
    """Give the slot its config version: a standby there starts with it; a new container reads it."""
    from gwops.config import store

    prepare(project)
    atomic_write(config_path(project, slot), store.version_path(project, version).read_bytes())


def disarm(project: Project, slot: str) -> None:
    """No config in the slot: a container started there waits as a standby."""
    config_path(project, slot).unlink(missing_ok=True)


def armed(project: Project, slot: str) -> bool:
    return config_path(project, slot).exists()
