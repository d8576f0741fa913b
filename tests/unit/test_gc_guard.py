"""The gateway image's collection guard (src/gwops/components/gateway/image/gwops_entry.py) collects what CPython's
automatic collector would have, only later: the same thresholds pick the same generation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

spec = importlib.util.spec_from_file_location(
    "gwops_entry", Path(__file__).resolve().parents[2] / "src/gwops/components/gateway/image/gwops_entry.py"
)
entry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entry)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((500, 20, 20), None),  # the youngest generation is under its threshold: nothing yet
        ((701, 3, 0), 0),
        ((701, 11, 2), 1),
        ((701, 11, 11), 2),
        ((701, 3, 11), 2),  # the oldest one that is due, as CPython picks it (its extra heuristic against
        # frequent full collections is replaced by freezing what exists at startup)
    ],
)
def test_the_generation_collected_follows_the_thresholds(monkeypatch, counts, expected):
    collected = []
    monkeypatch.setattr(entry.gc, "get_count", lambda: counts)
    monkeypatch.setattr(entry.gc, "collect", collected.append)
    assert entry.collect_if_due((700, 10, 10)) == expected
    assert collected == ([] if expected is None else [expected])
