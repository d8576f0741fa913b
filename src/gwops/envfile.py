"""The `.env` file: secrets generated on first run (mode 0600), checked on every run.

Compose reads it for interpolation (and for COMPOSE_FILE / COMPOSE_PROJECT_NAME, so plain
`docker compose ps` works in the project directory). Secrets never go anywhere else.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from gwops.errors import ConfigError, Problem
from gwops.fsutil import atomic_write

# generated when `.env` is created, and added to an existing `.env` that lacks one (a key a newer
# release added, e.g. GRAFANA_ADMIN_PASSWORD, or a line deleted to get a new value)
SECRET_KEYS = (
    "LITELLM_MASTER_KEY",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "OPTILLM_CLIENT_KEY",
)
MIN_SECRET_LEN = 24
WEAK = {"sk-1234", "changeme", "password", "secret", "postgres", "litellm", "admin", "redis", "test"}
LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def new_secret(key: str) -> str:
    token = secrets.token_urlsafe(32)  # 256 bits; URL-safe, so it fits in DATABASE_URL as is
    if key == "LITELLM_MASTER_KEY":
        return f"sk-{token}"
    # OptiLLM takes a client key starting with `sk-` as its upstream key: never let one
    return f"optillm-{token}" if key == "OPTILLM_CLIENT_KEY" else token


def parse(text: str) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = LINE.match(line)
        if m:
            val = m.group(2)
            if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
                val = val[1:-1]
            out[m.group(1)] = (val, n)
    return out


def _weak_reason(key: str, value: str) -> str | None:
    if not value:
        return "it is empty"
    if value.lower() in WEAK or len(set(value)) < 8:
        return "it is a well-known or trivially guessable value"
    if len(value) < MIN_SECRET_LEN:
        return f"it is {len(value)} characters long, under {MIN_SECRET_LEN}"
    if key == "LITELLM_MASTER_KEY" and not value.startswith("sk-"):
        return "LiteLLM requires the master key to start with `sk-`"
    if key == "OPTILLM_CLIENT_KEY" and value.startswith("sk-"):
        return "OptiLLM would use a client key starting with `sk-` as its upstream key"
    return None


@dataclass
class EnvResult:
    values: dict[str, str]
    created: bool
    notes: list[str]


def ensure(env_file: Path, example: Path, managed: dict[str, str]) -> EnvResult:
    """Create `.env` from `.env.example` with fresh secrets if missing; check it; set `managed` keys."""
    notes: list[str] = []
    created = False
    display = env_file.name
    if not env_file.exists():
        template = example.read_text() if example.exists() else "".join(f"{k}=\n" for k in SECRET_KEYS)
        lines = []
        for line in template.splitlines():
            m = LINE.match(line)
            if m and m.group(1) in SECRET_KEYS and not m.group(2):
                line = f"{m.group(1)}={new_secret(m.group(1))}"
            lines.append(line)
        present = parse("\n".join(lines))
        lines += [f"{k}={new_secret(k)}" for k in SECRET_KEYS if k not in present]
        atomic_write(env_file, "\n".join(lines) + "\n", mode=0o600)
        created = True
        notes.append(f"generated `{display}` with strong random secrets (mode 0600)")
    mode = stat.S_IMODE(env_file.stat().st_mode)
    if mode & 0o077:
        os.chmod(env_file, 0o600)
        notes.append(f"`{display}` was readable by others (mode {mode:04o}): set to 0600")
    text = env_file.read_text()
    parsed = parse(text)
    absent = [k for k in SECRET_KEYS if k not in parsed]
    if absent:
        text = (
            text + ("" if text.endswith("\n") or not text else "\n") + "".join(f"{k}={new_secret(k)}\n" for k in absent)
        )
        atomic_write(env_file, text, mode=0o600)
        parsed = parse(text)
        if not created:
            notes.append(f"added {', '.join(absent)} to `{display}` (strong random values)")
    problems = []
    for key in SECRET_KEYS:
        value, line = parsed.get(key, ("", 0))
        reason = _weak_reason(key, value)
        if reason:
            problems.append(
                Problem(
                    display,
                    line,
                    1 if line else 0,
                    key,
                    f"`{key}` is refused: {reason}",
                    f"delete the line and run `bin/ops up` to generate a strong one, or set "
                    f"{MIN_SECRET_LEN}+ random characters",
                )
            )
    if problems:
        raise ConfigError(problems)
    # Keep non-secret Compose settings current, editing only their own lines.
    changed = False
    lines = text.splitlines()
    for key, want in managed.items():
        have = parsed.get(key)
        if have and have[0] == want:
            continue
        changed = True
        if have:
            lines[have[1] - 1] = f"{key}={want}"
        else:
            lines.append(f"{key}={want}")
    if changed:
        atomic_write(env_file, "\n".join(lines) + "\n", mode=0o600)
        parsed = parse("\n".join(lines))
    return EnvResult({k: v for k, (v, _) in parsed.items()}, created, notes)


def read(env_file: Path) -> dict[str, str]:
    if not env_file.exists():
        return {}
    return {k: v for k, (v, _) in parse(env_file.read_text()).items()}
