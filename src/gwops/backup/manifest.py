"""One JSON manifest per backup: files and checksums, versions, images, row counts, verification."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gwops.fsutil import atomic_write

MANIFEST = "manifest.json"
DUMP = "dump.sql.zst"
GLOBALS = "globals.sql"


@dataclass
class Manifest:
    id: str
    seq: int  # monotonic: "newest" never depends on the clock
    created_at: str  # UTC ISO time, for humans and calendar buckets
    database: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> sha256, size
    raw_size: int = 0  # bytes of the uncompressed dump
    server_version: str = ""
    pg_dump_version: str = ""
    images: dict[str, str] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows in the dump
    duration_seconds: float = 0.0
    verification: dict[str, Any] = field(default_factory=lambda: {"status": "pending"})

    @property
    def verified(self) -> bool:
        return self.verification.get("status") == "verified"

    def write(self, directory: Path) -> None:
        atomic_write(directory / MANIFEST, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", mode=0o600)

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        data = json.loads((directory / MANIFEST).read_text())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def load_all(root: Path) -> list[Manifest]:
    """Every published backup under `root`, oldest first (by sequence number)."""
    out = []
    if not root.exists():
        return out
    for d in root.iterdir():
        if d.is_dir() and not d.name.endswith(".partial") and (d / MANIFEST).exists():
            try:
                out.append(Manifest.read(d))
            except (ValueError, TypeError, OSError):
                continue  # an unreadable manifest is not a backup we can vouch for
    return sorted(out, key=lambda m: m.seq)
