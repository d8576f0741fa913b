"""The project on disk: where sources, generated files, state and logs live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gwops import constants as C
from gwops.errors import UsageError
from gwops.pins import COMPONENTS, compose_file


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        env = os.environ.get(C.ENV_ROOT)
        if env:
            return cls(Path(env).resolve())
        here = (start or Path.cwd()).resolve()
        for d in (here, *here.parents):
            if (d / C.COMPOSE_FILE).is_file() and (d / C.CONFIG_DIR).is_dir():
                return cls(d)
        raise UsageError(
            f"no project found in `{here}` or above (looked for `{C.COMPOSE_FILE}` and `{C.CONFIG_DIR}/`)",
            hint="run from the project checkout, or set GWOPS_ROOT",
        )

    @property
    def config_dir(self) -> Path:
        return self.root / C.CONFIG_DIR

    @property
    def state_dir(self) -> Path:
        return self.root / C.STATE_DIR

    @property
    def logs_dir(self) -> Path:
        return self.root / C.LOGS_DIR

    @property
    def env_file(self) -> Path:
        return self.root / C.ENV_FILE

    @property
    def env_example(self) -> Path:
        return self.root / C.ENV_EXAMPLE

    @property
    def stack_file(self) -> Path:
        return self.config_dir / C.STACK_FILE

    @property
    def litellm_config(self) -> Path:
        return self.state_dir / C.LITELLM_CONFIG

    @property
    def litellm_meta(self) -> Path:
        return self.state_dir / C.LITELLM_META

    @property
    def history_dir(self) -> Path:
        return self.state_dir / "config-history"

    def display(self, path: Path) -> str:
        """`path` relative to the project when it is inside it (for messages)."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def compose_files(self) -> list[Path]:
        return [self.root / C.COMPOSE_FILE, *(self.root / compose_file(n) for n in COMPONENTS)]

    def compose_file_var(self) -> str:
        """COMPOSE_FILE value (relative paths, `:`-separated) for plain `docker compose`."""
        return ":".join([C.COMPOSE_FILE, *(compose_file(n) for n in COMPONENTS)])
