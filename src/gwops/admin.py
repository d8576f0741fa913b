"""Virtual keys, teams and spend: LiteLLM's admin API through the public port, with the master key.

A new key's secret is returned once, to the caller (the CLI prints it once); it is never logged or
written anywhere. Keys are named by their alias (or their hashed token, as `key list` shows it):
the secret itself is never needed to manage a key.

Spend is read from LiteLLM's own table (`LiteLLM_SpendLogs`, one row per request), grouped in
Postgres: exact for any range, without paging through the admin API's per-request listing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from gwops.errors import AdminError, OpsError, UsageError

if TYPE_CHECKING:
    from gwops.docker import Docker

TIMEOUT = 30


@dataclass
class KeySpec:
    alias: str
    team: str | None = None  # a team alias or id
    user: str | None = None
    models: list[str] | None = None
    max_budget: float | None = None
    budget_duration: str | None = None  # e.g. 30d, 1h
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    expires: str | None = None  # a duration from now, e.g. 90d
    metadata: dict[str, Any] | None = None


DURATION = re.compile(r"^[0-9]+[smhd]$|^[0-9]+mo$")


class Admin:
    def __init__(self, url: str, master_key: str, client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=TIMEOUT, headers={"Authorization": f"Bearer {master_key}"})

    # -- transport -------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self._client.request(method, f"{self.url}{path}", **kw)
        except httpx.HTTPError as exc:
            raise AdminError(
                f"the gateway did not answer {method} {path}: {type(exc).__name__}",
                hint="`bin/ops status` says whether it runs; `bin/ops up` starts it",
            ) from None
        if r.status_code >= 400:
            raise AdminError(
                f"the gateway refused {method} {path} (HTTP {r.status_code}): {_reason(r)}", hint=_hint(r.status_code)
            )
        try:
            return r.json()
        except ValueError:
            raise AdminError(f"{method} {path} answered something that is not JSON") from None

    # -- teams -----------------------------------------------------------------------------------
    def teams(self) -> list[dict[str, Any]]:
        out = self._call("GET", "/team/list")
        return out if isinstance(out, list) else out.get("teams", [])

    def team(self, name: str) -> dict[str, Any]:
        """A team by alias or id."""
        for t in self.teams():
            if name in (t.get("team_alias"), t.get("team_id")):
                return t
        raise UsageError(f"no team `{name}`", hint="`bin/ops teams list` shows them")

    def team_info(self, name: str) -> dict[str, Any]:
        tid = self.team(name)["team_id"]
        return self._call("GET", "/team/info", params={"team_id": tid})

    def create_team(
        self,
        alias: str,
        max_budget: float | None = None,
        budget_duration: str | None = None,
        models: list[str] | None = None,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
    ) -> dict[str, Any]:
        if any(t.get("team_alias") == alias for t in self.teams()):
            raise UsageError(f"a team `{alias}` exists already", hint="`bin/ops teams info " + alias + "`")
        _check_duration(budget_duration, "--budget-duration")
        body = _compact(
            team_alias=alias,
            max_budget=max_budget,
            budget_duration=budget_duration,
            models=models,
            rpm_limit=rpm_limit,
            tpm_limit=tpm_limit,
        )
        return self._call("POST", "/team/new", json=body)

    # -- keys ------------------------------------------------------------------------------------
    def keys(self) -> list[dict[str, Any]]:
        """Every virtual key (no secret: LiteLLM keeps only their hash), all pages."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            out = self._call("GET", "/key/list", params={"return_full_object": "true", "page": page, "size": 100})
            batch = out.get("keys", [])
            found += [k for k in batch if isinstance(k, dict)]
            if page >= int(out.get("total_pages") or 1) or not batch:
                return found
            page += 1

    def key(self, name: str) -> dict[str, Any]:
        """A key by alias or by hashed token (as `keys list` shows it)."""
        matches = [k for k in self.keys() if name in (k.get("key_alias"), k.get("token"))]
        if not matches:
            raise UsageError(f"no key `{name}`", hint="`bin/ops keys list` shows them (by alias)")
        return matches[0]

    def create_key(self, spec: KeySpec) -> dict[str, Any]:
        """A new key; the answer carries its secret (`key`), once."""
        if any(k.get("key_alias") == spec.alias for k in self.keys()):
            raise UsageError(
                f"a key with alias `{spec.alias}` exists already",
                hint=f"`bin/ops keys rotate {spec.alias}` gives it a new secret",
            )
        _check_duration(spec.budget_duration, "--budget-duration")
        _check_duration(spec.expires, "--expires")
        team_id = self.team(spec.team)["team_id"] if spec.team else None
        body = _compact(
            key_alias=spec.alias,
            team_id=team_id,
            user_id=spec.user,
            models=spec.models,
            max_budget=spec.max_budget,
            budget_duration=spec.budget_duration,
            rpm_limit=spec.rpm_limit,
            tpm_limit=spec.tpm_limit,
            duration=spec.expires,
            metadata=spec.metadata,
        )
        return self._call("POST", "/key/generate", json=body)

    def revoke(self, name: str) -> dict[str, Any]:
        k = self.key(name)
        self._call("POST", "/key/delete", json={"keys": [k["token"]]})
        return k

    def rotate(self, name: str) -> dict[str, Any]:
        """A new secret with the same settings (alias, team, user, models, budget, limits,
        metadata); the old secret stops working. (LiteLLM's own regenerate is an enterprise
        feature.) The new key's spend starts at 0; its spend history stays under the old one."""
        old = self.key(name)
        alias = old.get("key_alias") or name
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self._call("POST", "/key/update", json={"key": old["token"], "key_alias": f"{alias}.rotated-{stamp}"})
        try:
            new = self._call(
                "POST",
                "/key/generate",
                json=_compact(
                    key_alias=alias,
                    team_id=old.get("team_id"),
                    user_id=old.get("user_id"),
                    models=old.get("models") or None,
                    max_budget=old.get("max_budget"),
                    budget_duration=old.get("budget_duration"),
                    rpm_limit=old.get("rpm_limit"),
                    tpm_limit=old.get("tpm_limit"),
                    metadata=old.get("metadata") or None,
                    duration=_remaining(old.get("expires")),
                ),
            )
        except OpsError:
            self._call("POST", "/key/update", json={"key": old["token"], "key_alias": alias})  # as it was
            raise
        self._call("POST", "/key/delete", json={"keys": [old["token"]]})
        return new


def _remaining(expires: str | None) -> str | None:
    """What is left of an expiry (ISO time) as a duration for /key/generate."""
    if not expires:
        return None
    at = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return f"{max(1, int((at - dt.datetime.now(dt.UTC)).total_seconds()))}s"


def _compact(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _check_duration(value: str | None, flag: str) -> None:
    if value is not None and not DURATION.match(value):
        raise UsageError(f"`{flag} {value}` is not a duration", hint="write e.g. 30s, 15m, 12h, 30d or 1mo")


def _reason(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200]
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err)[:300]
    return str(body.get("detail") or body)[:300] if isinstance(body, dict) else str(body)[:300]


def _hint(status: int) -> str:
    if status == 401:
        return "the master key in `.env` is not the gateway's: run `bin/ops up` after changing it"
    if status == 404:
        return "does the gateway run with its database (`database.enabled` in config/stack.yaml)?"
    return "`bin/ops logs gateway` says more"


# -- spend ---------------------------------------------------------------------------------------
GROUPS = {
    "key": ("COALESCE(k.key_alias, s.api_key)", 'LEFT JOIN "LiteLLM_VerificationToken" k ON k.token = s.api_key'),
    "team": (
        "COALESCE(t.team_alias, NULLIF(s.team_id, ''), '-')",
        'LEFT JOIN "LiteLLM_TeamTable" t ON t.team_id = s.team_id',
    ),
    "user": ("COALESCE(NULLIF(s.\"user\", ''), '-')", ""),
    "model": ("COALESCE(NULLIF(s.model_group, ''), s.model)", ""),
    "day": ("to_char(date_trunc('day', s.\"startTime\"), 'YYYY-MM-DD')", ""),
}


def spend_query(by: str, since: dt.datetime | None) -> str:
    """One row per group: name, requests, spend, tokens (prompt, completion), as tab-separated."""
    expr, join = GROUPS[by]
    where = f"WHERE s.\"startTime\" >= '{since.strftime('%Y-%m-%d %H:%M:%S')}'" if since else ""
    return (
        f"SELECT {expr} AS name, count(*), COALESCE(sum(s.spend), 0), COALESCE(sum(s.prompt_tokens), 0), "
        f'COALESCE(sum(s.completion_tokens), 0) FROM "LiteLLM_SpendLogs" s {join} {where} '
        "GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1"
    )


def parse_since(value: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """`--since`: a duration back from now (24h, 7d) or a date (2026-12-01)."""
    if value is None:
        return None
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    m = re.fullmatch(r"([0-9]+)([mhd])", value)
    if m:
        n = int(m.group(1))
        return now - {"m": dt.timedelta(minutes=n), "h": dt.timedelta(hours=n), "d": dt.timedelta(days=n)}[m.group(2)]
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise UsageError(
            f"`--since {value}` is neither a duration nor a date", hint="write e.g. 30m, 24h, 7d or 2026-12-01"
        ) from None


def spend(docker: Docker, env: dict[str, str], by: str, since: dt.datetime | None) -> list[dict[str, Any]]:
    """Requests, spend and tokens per `by`, since `since`, from LiteLLM's spend logs (in the
    Compose stack's Postgres, or else the Swarm stack's task on this node)."""
    from gwops.components import postgres

    code, out = docker.serving(postgres.SERVICE).exec(
        postgres.SERVICE, ["psql", "-X", "-At", "-F", "\t", "-c", spend_query(by, since)], env=postgres.client_env(env)
    )
    if code != 0:
        raise OpsError(
            f"reading the spend logs failed: {out.strip()[-300:]}",
            hint="`bin/ops status`: is Postgres running, and the database on?",
        )
    return parse_spend(out)


def parse_spend(output: str) -> list[dict[str, Any]]:
    rows = []
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) != 5:
            continue
        name, n, spend, pt, ct = parts
        rows.append(
            {
                "name": name,
                "requests": int(n),
                "spend": float(spend),
                "prompt_tokens": int(pt),
                "completion_tokens": int(ct),
            }
        )
    return rows
