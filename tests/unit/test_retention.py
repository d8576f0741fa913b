"""Retention over random backup histories (failed runs, clock jumps): the newest verified
backup always survives, and only verified backups are kept by a rule."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwops.backup.manifest import Manifest
from gwops.backup.retention import Policy, plan
from gwops.backup.stream import CopyCounter

pytestmark = pytest.mark.unit
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@st.composite
def histories(draw):
    n = draw(st.integers(0, 60))
    t = T0
    out = []
    for seq in range(1, n + 1):
        # mostly forward in time, sometimes a clock jump backwards or far forwards
        t += dt.timedelta(hours=draw(st.sampled_from([1, 6, 24, 24, 24, 24 * 8, -48, -24 * 40])))
        status = draw(st.sampled_from(["verified", "verified", "verified", "failed", "pending"]))
        out.append(
            Manifest(id=f"b{seq:03d}", seq=seq, created_at=t.isoformat(), database="d", verification={"status": status})
        )
    return out


policies = st.builds(Policy, st.integers(1, 5), st.integers(0, 5), st.integers(0, 3), st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(ms=histories(), policy=policies)
def test_newest_verified_always_survives(ms, policy):
    p = plan(ms, policy)
    verified = [m for m in ms if m.verified]
    if verified:
        newest = max(verified, key=lambda m: m.seq)
        assert newest.id not in p.delete and "newest verified" in p.keep[newest.id]
    assert set(p.delete).isdisjoint(p.keep)
    assert set(p.delete) | set(p.keep) == {m.id for m in ms}
    by_id = {m.id: m for m in ms}
    for bid, reasons in p.keep.items():
        if not by_id[bid].verified:  # an unverified backup is never kept by a rule
            assert reasons == ["unverified, newer than every verified backup"]
    kept_last = [bid for bid, r in p.keep.items() if "last" in r]
    assert len(kept_last) == min(policy.keep_last, len(verified))


def test_nothing_verified_deletes_nothing():
    ms = [
        Manifest(id=f"b{i}", seq=i, created_at=T0.isoformat(), database="d", verification={"status": "failed"})
        for i in range(1, 4)
    ]
    assert plan(ms, Policy()).delete == []


@pytest.mark.parametrize("size", [1, 7, 64, 4096])
def test_copy_counter_any_chunking(size):
    dump = (
        b'SET x;\nCOPY public."T" (a, b) FROM stdin;\n1\tx\n2\t\\\\.\n3\ty\n\\.\n'
        b"COPY public.e (a) FROM stdin;\n\\.\n\n-- PostgreSQL database dump complete\n\n"
    )
    c = CopyCounter()
    for i in range(0, len(dump), size):
        c.feed(dump[i : i + size])
    assert c.counts == {'public."T"': 3, "public.e": 0} and c.complete
