"""The tree keeps the rules it states: `ruff check` (pyproject.toml's rules) and `ruff format` pass
on every Python file, so CI (which runs this suite) fails on a change that breaks them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PATHS = ["src", "tests", "bench"]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(args):
    out = subprocess.run(
        [sys.executable, "-m", "ruff", *args, *PATHS], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"`ruff {' '.join(args)}` found:\n{out.stdout[-3000:]}{out.stderr[-1000:]}"
