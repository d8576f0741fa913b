"""Retention by count, computed from manifests only (never file times).

Only verified backups count and can be kept by a rule; the newest verified backup (by sequence
number, so clock jumps cannot change which one it is) is always kept. Unverified or failed
backups older than the newest verified one are dropped; newer ones are left alone (they may be
in progress or waiting for a re-check).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gwops.backup.manifest import Manifest


@dataclass(frozen=True)
class Policy:
    keep_last: int = 7
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 6


@dataclass
class PrunePlan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # id -> reasons
    delete: list[str] = field(default_factory=list)


def _when(m: Manifest) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(m.created_at)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)


def plan(manifests: list[Manifest], policy: Policy) -> PrunePlan:
    result = PrunePlan()
    verified = sorted((m for m in manifests if m.verified), key=lambda m: m.seq, reverse=True)

    def keep(m: Manifest, why: str) -> None:
        result.keep.setdefault(m.id, []).append(why)

    if verified:
        keep(verified[0], "newest verified")
    for m in verified[: policy.keep_last]:
        keep(m, "last")
    for rule, count, bucket in (
        ("daily", policy.keep_daily, lambda t: t.date().isoformat()),
        ("weekly", policy.keep_weekly, lambda t: f"{t.isocalendar()[0]}-W{t.isocalendar()[1]:02d}"),
        ("monthly", policy.keep_monthly, lambda t: t.strftime("%Y-%m")),
    ):
        seen: list[str] = []
        for m in verified:  # newest first: the newest backup of each bucket represents it
            b = bucket(_when(m))
            if b in seen:
                continue
            seen.append(b)
            if len(seen) > count:
                break
            keep(m, rule)
    newest_seq = verified[0].seq if verified else None
    for m in manifests:
        if m.id in result.keep:
            continue
        if m.verified or (newest_seq is not None and m.seq < newest_seq):
            result.delete.append(m.id)
        else:
            result.keep.setdefault(m.id, []).append("unverified, newer than every verified backup")
    return result
