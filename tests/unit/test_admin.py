"""Keys, teams and spend (gwops.admin) against a stand-in of LiteLLM's admin API (httpx's mock
transport); the real API is exercised in tests/integration/test_data.py."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from gwops.admin import Admin, KeySpec, parse_since, parse_spend, spend_query
from gwops.errors import AdminError, UsageError

pytestmark = pytest.mark.unit


class FakeLiteLLM:
    def __init__(self, fail_generate: bool = False):
        self.keys = {
            "h1": {
                "token": "h1",
                "key_alias": "alice",
                "team_id": "t1",
                "models": ["m"],
                "max_budget": 5.0,
                "rpm_limit": 60,
                "metadata": {"a": 1},
                "expires": None,
            }
        }
        self.calls: list[tuple[str, str, dict]] = []
        self.fail_generate = fail_generate

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.method, request.url.path, body))
        path = request.url.path
        if request.headers["authorization"] != "Bearer sk-master":
            return httpx.Response(401, json={"error": {"message": "bad key"}})
        if path == "/team/list":
            return httpx.Response(200, json=[{"team_id": "t1", "team_alias": "lab"}])
        if path == "/key/list":
            page = int(request.url.params["page"])
            keys = list(self.keys.values())
            return httpx.Response(200, json={"keys": keys[page - 1 : page], "total_pages": max(1, len(keys))})
        if path == "/key/update":
            self.keys[body["key"]]["key_alias"] = body["key_alias"]
            return httpx.Response(200, json={})
        if path == "/key/generate":
            if self.fail_generate:
                return httpx.Response(500, json={"error": {"message": "db down"}})
            self.keys["h2"] = {"token": "h2", **{k: v for k, v in body.items() if k != "duration"}}
            return httpx.Response(200, json={"key": "sk-new-secret", "token": "h2", **body})
        if path == "/key/delete":
            for t in body["keys"]:
                self.keys.pop(t)
            return httpx.Response(200, json={"deleted_keys": body["keys"]})
        return httpx.Response(404, json={"detail": "Not Found"})


def admin(fake: FakeLiteLLM, key: str = "sk-master") -> Admin:
    client = httpx.Client(transport=httpx.MockTransport(fake), headers={"Authorization": f"Bearer {key}"})
    return Admin("http://gw", key, client=client)


def test_a_key_is_created_with_its_team_by_alias_and_refused_twice():
    fake = FakeLiteLLM()
    out = admin(fake).create_key(KeySpec(alias="bob", team="lab", rpm_limit=10, expires="90d", models=["m"]))
    assert out["key"] == "sk-new-secret"
    sent = fake.calls[-1][2]
    assert sent == {"key_alias": "bob", "team_id": "t1", "models": ["m"], "rpm_limit": 10, "duration": "90d"}
    with pytest.raises(UsageError, match="alias `alice` exists already"):
        admin(fake).create_key(KeySpec(alias="alice"))
    with pytest.raises(UsageError, match="no team `nope`"):
        admin(fake).create_key(KeySpec(alias="carol", team="nope"))
    with pytest.raises(UsageError, match="`--expires 3 days` is not a duration"):
        admin(fake).create_key(KeySpec(alias="dave", expires="3 days"))


def test_rotate_keeps_the_settings_and_revokes_the_old_secret():
    fake = FakeLiteLLM()
    new = admin(fake).rotate("alice")
    assert new["key"] == "sk-new-secret"
    assert list(fake.keys) == ["h2"] and fake.keys["h2"]["key_alias"] == "alice"
    gen = next(body for m, p, body in fake.calls if p == "/key/generate")
    assert gen == {
        "key_alias": "alice",
        "team_id": "t1",
        "models": ["m"],
        "max_budget": 5.0,
        "rpm_limit": 60,
        "metadata": {"a": 1},
    }


def test_a_failed_rotate_leaves_the_old_key_as_it_was():
    fake = FakeLiteLLM(fail_generate=True)
    with pytest.raises(AdminError, match="HTTP 500.*db down"):
        admin(fake).rotate("alice")
    assert fake.keys["h1"]["key_alias"] == "alice" and list(fake.keys) == ["h1"]


def test_refusals_say_what_to_do():
    with pytest.raises(AdminError) as info:
        admin(FakeLiteLLM(), key="sk-wrong").keys()
    assert "HTTP 401" in info.value.message and "master key in `.env`" in info.value.hint
    with pytest.raises(UsageError, match="no key `zed`"):
        admin(FakeLiteLLM()).revoke("zed")


def test_since_and_spend_rows():
    now = dt.datetime(2026, 12, 7, 12, 0, 0)
    assert parse_since("24h", now) == dt.datetime(2026, 12, 6, 12, 0, 0)
    assert parse_since("30m", now) == dt.datetime(2026, 12, 7, 11, 30, 0)
    assert parse_since("2026-12-01", now) == dt.datetime(2026, 12, 1)
    with pytest.raises(UsageError, match="neither a duration nor a date"):
        parse_since("last week", now)
    q = spend_query("team", dt.datetime(2026, 12, 1))
    assert '"LiteLLM_TeamTable"' in q and "\"startTime\" >= '2026-12-01 00:00:00'" in q
    assert parse_spend("alice\t3\t0.5\t30\t60\nbad line\n") == [
        {"name": "alice", "requests": 3, "spend": 0.5, "prompt_tokens": 30, "completion_tokens": 60}
    ]
