"""The data layer on one real stack (local images, the WASM engine adapter): migrations recorded
as Prisma records them, keys/teams/spend through `bin/ops`, the adapter's query shapes checked
row by row with psql, limits across replicas, reloads and a Postgres pause under load with
virtual keys, backup/restore and down/up keeping keys and spend.

The tests share the stack and run in file order (each leaves it serving)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from gwops import access_log
from gwops.loadgen import Background
from gwops.poll import poll
from gwops.settings import PG_RESERVE, StackSettings, connections
from tests import fakes
from tests.conftest import UPGRADE_TO, unique
from tests.integration.conftest import container_ids, make_copy, master_key, ops, remove_stack

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).parent / "scripts/prisma_conformance.py"


def hold(seconds: float) -> None:
    """Keep the load running this long (a measurement window, not a wait for a condition)."""
    t0 = time.monotonic()
    poll(lambda: True if time.monotonic() - t0 >= seconds else None, seconds + 5, 0.2)


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    url: str
    project: str
    fake: object
    up: subprocess.CompletedProcess

    def ops(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return ops(self.root, self.env, *args, timeout=timeout)

    def psql(self, sql: str) -> str:
        """A query run in the Postgres container itself: never through the gateway or the adapter."""
        pg = container_ids(self.project, "postgres")[0]
        out = subprocess.run(
            [
                "docker",
                "exec",
                pg,
                "sh",
                "-c",
                'exec psql -X -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"',
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def new_key(self, alias: str, *options: str) -> str:
        r = self.ops("keys", "create", "--alias", alias, *options)
        assert r.returncode == 0, r.stderr
        secret = r.stdout.strip()
        assert secret.startswith("sk-") and "\n" not in secret
        return secret

    def chat(self, key: str, model: str = "gwops-echo", **headers: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/chat/completions",
            timeout=30,
            headers={"Authorization": f"Bearer {key}", "Connection": "close", **headers},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        )

    def spend_rows(self, key_alias: str) -> int:
        return int(
            self.psql(
                'SELECT count(*) FROM "LiteLLM_SpendLogs" s JOIN "LiteLLM_VerificationToken" k '
                f"ON k.token = s.api_key WHERE k.key_alias = '{key_alias}'"
            )
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, local_images):
    fake = fakes.start_openai("0.0.0.0")  # a provider that records the headers it receives
    root = tmp_path_factory.mktemp("data") / "repo"
    env = make_copy(root, unique("gwops-data"))
    (root / "config/providers.yaml").write_text(
        "providers:\n  lab:\n    type: mock\n    models: [gwops-echo]\n"
        f"  fake:\n    type: openai_compatible\n    base_url: http://localhost:{fake.server_address[1]}/v1\n"
        "    models: [plain, broken]\n"
    )
    with (root / "config/model-mappings.yaml").open("a") as f:
        f.write("fallback_chains:\n  broken: [plain]\n")  # `broken` answers through `plain`
    try:
        up = ops(root, env, "up")
        assert up.returncode == 0, up.stderr
        settings = yaml.safe_load((root / "config/stack.yaml").read_text())
        yield Stack(root, env, f"http://127.0.0.1:{settings['gateway']['port']}", settings["project_name"], fake, up)
    finally:
        fake.shutdown()
        remove_stack(root, env)


def test_migrations_are_recorded_as_prisma_records_them(stack):
    assert "LiteLLM migrations applied" in stack.up.stderr, stack.up.stderr
    # and the request-log indexes LiteLLM builds after its migrations (not in one), valid
    assert "request-log indexes built: LiteLLM_SpendLogs_api_key_startTime_idx" in stack.up.stderr
    valid = stack.psql(
        "SELECT string_agg(i.relname || '=' || x.indisvalid, ',' ORDER BY i.relname) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = '\"LiteLLM_SpendLogs\"'::regclass "
        "AND i.relname IN ('LiteLLM_SpendLogs_api_key_startTime_idx', 'LiteLLM_SpendLogs_litellm_call_id_idx')"
    )
    assert valid == "LiteLLM_SpendLogs_api_key_startTime_idx=true,LiteLLM_SpendLogs_litellm_call_id_idx=true"
    # the checksums, computed independently: sha256sum of each migration.sql inside the image
    image = json.loads(stack.ops("status", "--json").stdout)
    gateway_image = next(s["image"] for s in image["services"] if s["service"] == "gateway-blue")
    listing = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            gateway_image,
            "-c",
            'cd "$(python3 -c "import litellm_proxy_extras as m, os; print(os.path.dirname(m.__file__))")'
            '/migrations" && sha256sum */migration.sql',
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    shipped = {
        path.removesuffix("/migration.sql"): digest
        for digest, path in (line.split("  ", 1) for line in listing.stdout.splitlines())
    }
    recorded = dict(
        line.split("|")
        for line in stack.psql(
            'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL '
            "AND rolled_back_at IS NULL AND applied_steps_count = 1"
        ).splitlines()
    )
    assert len(shipped) > 200 and recorded == shipped
    # a second `up` applies nothing and starts nothing
    again = stack.ops("up")
    assert again.returncode == 0 and "database: up to date" in again.stderr, again.stderr


def test_keys_teams_and_spend_through_bin_ops(stack):
    import openai

    status = json.loads(stack.ops("status", "--json").stdout)
    assert status["gateway"]["database"] is True and "WASM" in status["gateway"]["database_engine"]
    assert stack.ops("teams", "create", "--alias", "lab", "--max-budget", "50").returncode == 0
    alice = stack.new_key("alice", "--team", "lab", "--max-budget", "10", "--budget-duration", "30d")
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=alice)
    reply = client.chat.completions.create(model="gwops-echo", messages=[{"role": "user", "content": "hi"}])
    assert "gwops gateway" in reply.choices[0].message.content

    # seed 004: a client's Authorization and its own headers never reach the provider
    before = len(stack.fake.headers)
    r = stack.chat(alice, "plain", **{"X-Client-Secret": "do-not-forward"})
    assert r.status_code == 200, r.text
    sent = {k.lower(): v for k, v in stack.fake.headers[before].items()}
    assert "x-client-secret" not in sent and alice not in json.dumps(sent)

    # the secret is printed once and written nowhere: not in state/, logs/, compose files, .env
    for f in [
        *stack.root.glob("state/**/*"),
        *stack.root.glob("logs/**/*"),
        *stack.root.glob("compose.d/*"),
        stack.root / ".env",
    ]:
        if f.is_file():
            assert alice not in f.read_text(errors="replace"), f"the new key leaked into {f}"
    listing = json.loads(stack.ops("keys", "list", "--json").stdout)
    assert [(k["key_alias"], k["team"], k["max_budget"]) for k in listing] == [("alice", "lab", 10.0)]
    assert alice not in json.dumps(listing)
    assert json.loads(stack.ops("teams", "info", "lab", "--json").stdout)["keys"] == ["alice"]

    # spend: LiteLLM writes its logs in batches; both requests show under the key and the team
    def both() -> list | None:
        rows = json.loads(stack.ops("spend", "--by", "key", "--json").stdout)["rows"]
        return rows if any(r["name"] == "alice" and r["requests"] == 2 for r in rows) else None

    poll(both, 60, 1)
    teams = json.loads(stack.ops("spend", "--by", "team", "--since", "1h", "--json").stdout)["rows"]
    assert any(r["name"] == "lab" and r["requests"] == 2 for r in teams), teams

    assert stack.chat("sk-not-a-key").status_code == 401
    assert stack.ops("keys", "revoke", "alice", "--yes").returncode == 0
    # revoked: every worker of every replica refuses it once its key cache lets go of it
    t0 = time.monotonic()
    poll(lambda: all(stack.chat(alice).status_code == 401 for _ in range(8)) or None, 90, 1)
    print(f"revoked key refused everywhere after {time.monotonic() - t0:.1f} s")


def test_adapter_conformance_rows_checked_with_psql(stack):
    gw = container_ids(stack.project, "gateway-blue")[0]
    run = subprocess.run(
        ["docker", "exec", "-i", "-w", "/tmp", gw, "python3", "-"],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["unique"] == "UniqueViolationError" and out["token_found"] and out["count"] == 1
    assert out["find_many"] == ["conf-token"] and out["execute_raw"] == 1 and out["deleted"] == 0
    assert "unknown operation `findUniqueNoSuchModel`" in out["refused"]
    assert "model LiteLLM_TeamTable, operation findMany" in out["refused_argument"]
    assert out["raw"] == [{"names": ["LiteLLM_TeamTable"], "big": 2, "doc": {"a": 1}, "later": True}]  # name[] too
    assert out["group_by"] == {"conf-committed": 0, "conf-team": 3, "conf-upserted": 0}
    assert out["team_read"]["rpm_limit"] == 9007199254740993  # past 2^53: exact
    # the rows themselves
    row = stack.psql(
        "SELECT jsonb_typeof(metadata), metadata->'nested'->'x', rpm_limit, models, "
        "to_char(budget_reset_at, 'YYYY-MM-DD HH24:MI:SS.MS'), spend, max_budget "
        "FROM \"LiteLLM_TeamTable\" WHERE team_id = 'conf-team'"
    )
    assert row == "object|[1, 2]|9007199254740993|{a,b}|2030-01-02 03:04:05.678|3|12.5"  # JSON stored as JSON
    assert (
        stack.psql(
            'SELECT spend, jsonb_typeof(metadata), team_id FROM "LiteLLM_VerificationToken" '
            "WHERE token = 'conf-token'"
        )
        == "2.25|object|conf-team"
    )
    teams = stack.psql(
        "SELECT team_id || ':' || COALESCE(team_alias, '') FROM \"LiteLLM_TeamTable\" "
        "WHERE team_id LIKE 'conf-%' ORDER BY 1"
    ).splitlines()
    assert teams == ["conf-committed:raw alias", "conf-team:conf team", "conf-upserted:second"]  # no rolled-back row


def test_rpm_limit_holds_for_the_whole_stack(stack):
    """2 replicas x 2 workers: a per-process limit would admit up to 4x the limit."""
    key = stack.new_key("limited", "--rpm", "10")
    codes, replicas = [], set()
    for _ in range(30):  # about 10 s: one rate-limit window, every request on a new connection
        r = stack.chat(key)
        codes.append(r.status_code)
        if r.status_code == 200:
            replicas.add(r.headers.get("x-gwops-replica"))
    admitted = codes.count(200)
    print(f"rpm 10: {admitted} of 30 admitted by {len(replicas)} replicas; refused: {codes.count(429)}")
    assert len(replicas) == 2  # both replicas admitted some: the count is shared
    assert 10 <= admitted <= 12 and codes.count(429) == 30 - admitted, codes

    # a key at its budget (spend 0 of 0) is refused with a 4xx by every replica
    broke = stack.new_key("broke", "--max-budget", "0")
    refused = [stack.chat(broke) for _ in range(8)]
    assert all(400 <= r.status_code < 500 for r in refused), [(r.status_code, r.text[:200]) for r in refused]
    assert all("budget" in r.text.lower() for r in refused)
    assert len({r.headers.get("x-gwops-replica") for r in refused}) == 2  # both replicas refused it


def test_reloads_and_a_postgres_pause_under_load_with_a_virtual_key(stack):
    key = stack.new_key("loadgen")
    pg = container_ids(stack.project, "postgres")[0]
    t_start = time.monotonic()
    seen: list[int] = []  # Postgres' client connections, sampled through the reloads
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1):
            seen.append(int(stack.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")))

    with Background(stack.url, key, rate=20, stream_share=0.2, models_share=0.0) as bg:
        providers = (stack.root / "config/providers.yaml").read_text()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            for i in range(2):  # two reloads back to back (issue 26's connection budget)
                (stack.root / "config/providers.yaml").write_text(
                    providers.replace("[gwops-echo]", f"[gwops-echo, extra-{i}]")
                )
                r = stack.ops("reload", "--quiet-diff")
                assert r.returncode == 0, r.stderr
        finally:
            stop.set()
            sampler.join()
        subprocess.run(["docker", "pause", pg], check=True)
        try:
            hold(10)  # Postgres away this long
        finally:
            subprocess.run(["docker", "unpause", pg], check=True)
        hold(3)  # traffic after the pause too, before the load stops
        t_resume = time.monotonic()
    res = bg.result
    budget = connections(StackSettings.model_validate(yaml.safe_load((stack.root / "config/stack.yaml").read_text())))
    print(
        res.summary(),
        f"(reloads and the pause took {t_resume - t_start:.0f} s; at most {max(seen)} database "
        f"connections during the reloads, budget {budget} + {PG_RESERVE})",
    )
    # the connection budget `validate` checks holds through reloads, and nothing ran out of them
    assert seen and max(seen) <= budget + PG_RESERVE
    logs = "".join(
        subprocess.run(
            ["docker", "logs", c], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        ).stdout
        for c in container_ids(stack.project)
    )
    assert "too many clients" not in logs and "remaining connection slots" not in logs
    assert res.switches() == 2
    assert res.failures == [], [f"{o.kind}: {o.error[:100]}" for o in res.failures[:5]]
    answered = len(res.outcomes)
    # LiteLLM queues spend writes and flushes them in batches: every answered request gets its row
    poll(lambda: stack.spend_rows("loadgen") >= answered or None, 120, 2)
    assert stack.spend_rows("loadgen") == answered


def test_backup_restore_and_down_up_keep_keys_and_spend(stack):
    before = stack.new_key("before-backup")
    assert stack.chat(before).status_code == 200
    poll(lambda: stack.spend_rows("before-backup") == 1 or None, 60, 1)
    rows_at_backup = int(stack.psql('SELECT count(*) FROM "LiteLLM_SpendLogs"'))
    # the backup is of an older database: its newest migration unrecorded (that one is idempotent)
    newest = stack.psql('SELECT max(migration_name) FROM "_prisma_migrations"')
    stack.psql(f"DELETE FROM \"_prisma_migrations\" WHERE migration_name = '{newest}'")
    b = stack.ops("backup")
    assert b.returncode == 0, b.stderr
    verify = stack.ops("backups", "verify")
    assert verify.returncode == 0, verify.stderr
    manifest = json.loads(stack.ops("backups", "--json").stdout)[-1]
    assert manifest["verified"] == "verified"

    after = stack.new_key("after-backup")
    assert stack.chat(after).status_code == 200
    poll(lambda: stack.spend_rows("after-backup") == 1 or None, 60, 1)
    r = stack.ops("restore", "latest", "--yes")
    assert r.returncode == 0, r.stderr
    # restored, then migrated before the gateway started again
    total = stack.psql('SELECT count(*) FROM "_prisma_migrations"')
    assert f"database: 1 of {total} LiteLLM migrations applied" in r.stderr, r.stderr
    assert f"the last: {newest})" in r.stderr, r.stderr
    # the spend rows are the backup's, to the row (the one made after it is gone with its key)
    assert int(stack.psql('SELECT count(*) FROM "LiteLLM_SpendLogs"')) == rows_at_backup
    assert stack.spend_rows("after-backup") == 0
    assert stack.chat(before).status_code == 200
    assert stack.chat(after).status_code == 401  # made after the backup: gone
    poll(lambda: stack.spend_rows("before-backup") == 2 or None, 60, 1)

    down = stack.ops("down")
    assert down.returncode == 0, down.stderr
    up = stack.ops("up")
    assert up.returncode == 0, up.stderr
    assert stack.chat(before).status_code == 200
    poll(lambda: stack.spend_rows("before-backup") == 3 or None, 60, 1)
    assert master_key(stack.root) not in stack.ops("keys", "list", "--json").stdout


def test_purge_deletes_only_the_rows_older_than_the_retention(stack):
    key = stack.new_key("recent")
    assert stack.chat(key).status_code == 200
    poll(lambda: stack.spend_rows("recent") == 1 or None, 60, 1)
    recent = int(stack.psql('SELECT count(*) FROM "LiteLLM_SpendLogs"'))
    # 12000 rows of 100 days ago (more than two of the purge's batches): copies of a real row
    stack.psql(
        'INSERT INTO "LiteLLM_SpendLogs" SELECT (jsonb_populate_record(NULL::"LiteLLM_SpendLogs", to_jsonb(s) || '
        "jsonb_build_object('request_id', 'old-' || g, 'startTime', (now() AT TIME ZONE 'UTC') - interval '100 days'))).* "
        'FROM (SELECT * FROM "LiteLLM_SpendLogs" LIMIT 1) s, generate_series(1, 12000) g'
    )
    db = json.loads(stack.ops("status", "--json").stdout)["database"]  # `status` sees the purge is behind
    assert db["behind"] and db["oldest_spend_days"] == 100 and "bin/ops purge" in db["next"], db
    dry = stack.ops("purge", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["rows"]["LiteLLM_SpendLogs"] == 12000
    assert int(stack.psql('SELECT count(*) FROM "LiteLLM_SpendLogs"')) == recent + 12000  # a dry run deletes nothing

    r = stack.ops("purge", "--json")  # the default retention: 90 days
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows"] == {"LiteLLM_SpendLogs": 12000, "LiteLLM_ErrorLogs": 0, "LiteLLM_AuditLog": 0}
    assert int(stack.psql('SELECT count(*) FROM "LiteLLM_SpendLogs"')) == recent
    assert stack.spend_rows("recent") == 1 and stack.chat(key).status_code == 200
    # vacuumed: the deleted rows are no dead tuples left behind
    dead = "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'LiteLLM_SpendLogs'"
    poll(lambda: stack.psql(dead) == "0" or None, 30, 1)
    db = json.loads(stack.ops("status", "--json").stdout)["database"]
    assert not db["behind"] and db["oldest_spend_days"] == 0 and abs(db["spend_rows_estimate"] - recent) <= 2, db


def test_try_shows_how_one_request_was_served_and_why_one_failed(stack):
    r = stack.ops("try", "gwops-echo", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    t = out["trial"]
    assert out["route"]["rule"] == "exact" and t["ok"] and t["status"] == 200 and t["answer"]
    assert t["served"]["slot"] in ("blue", "green") and t["served"]["replica"] and t["served"]["call_id"]
    assert t["served"]["model_group"] == "gwops-echo"

    def recorded():  # LiteLLM writes its spend logs in batches
        rows = json.loads(stack.ops("requests", "--id", t["served"]["call_id"], "--json").stdout)["requests"]
        return rows if rows and "tokens" in rows[0] else None  # the spend-log row, not the proxy's line alone

    row = poll(recorded, 60, 1)[0]  # `requests` finds the call `try` showed, by its call ID
    assert row["call_id"] == t["served"]["call_id"] and row["key"] == "(master key)" and row["route"] == "gwops-echo"
    s = stack.ops("try", "gwops-echo", "--stream")
    assert s.returncode == 0, s.stderr
    assert "first token" in s.stdout and "request id:" in s.stdout and "answer:" in s.stdout
    # a name no route serves: the raw error body and the next step, exit 1
    bad = stack.ops("try", "no-such-model")
    assert bad.returncode == 1, bad.stderr
    assert "served: HTTP 400" in bad.stdout and "error: {" in bad.stdout
    assert "next: no route serves `no-such-model`" in bad.stdout


def test_one_request_id_from_the_client_to_the_logs_and_back(stack):
    """A client's X-Request-ID is kept and returned (a bad one replaced); a failed request's ID,
    taken from its response header, finds it in `requests --id` with the deployment, retries,
    timings and what the gateway logged of it; `try` explains a fallback taken; a request
    LiteLLM never served (a bad key) is found by its HTTP status; `logs --json` merges both."""
    key = master_key(stack.root)
    mine = unique("ticket")
    ok = stack.chat(key, "plain", **{"X-Request-ID": mine})
    assert ok.status_code == 200 and ok.headers["x-request-id"] == mine == ok.headers["x-litellm-call-id"]
    odd = stack.chat(key, **{"X-Request-ID": "two words"})
    assert odd.status_code == 200 and odd.headers["x-request-id"] not in ("", "two words")
    failed = httpx.post(
        f"{stack.url}/v1/chat/completions",
        timeout=60,
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "broken", "messages": [{"role": "user", "content": "hi"}], "disable_fallbacks": True},
    )
    assert failed.status_code >= 500, failed.text
    rid = failed.headers["x-request-id"]

    def recorded():  # the spend-log row (written in batches) joined with the proxy's line
        out = json.loads(stack.ops("requests", "--id", rid, "--json").stdout)["requests"]
        return out if out and "tokens" in out[0] else None

    (row,) = poll(recorded, 60, 1)
    assert row["id"] == rid and row["route"] == "broken" and row["status"] == "failed", row
    assert row["http_status"] == failed.status_code and "broken" in row["deployment"], row
    assert row["latency_ms"] > 0 and row["proxy_ms"] is not None and row["replica"] and row["slot"], row
    assert row["retries"] == 2 and any(rid in line for line in row["gateway_log"]), row  # router num_retries: 2
    # the proxy's line alone (HTTP status filter) has the same request
    (proxied,) = [
        r for r in json.loads(stack.ops("requests", "--status", "5xx", "--json").stdout)["requests"] if r["id"] == rid
    ]
    assert proxied["http_status"] == failed.status_code and proxied["latency_ms"] >= row["latency_ms"] - 5
    # a bad key never reaches a model: found by its status, named by the start of its hash
    refused = stack.chat("sk-not-a-key")
    assert refused.status_code == 401 and refused.headers["x-request-id"]
    bad = json.loads(stack.ops("requests", "--status", "401", "--json").stdout)["requests"]
    (r401,) = [r for r in bad if r["id"] == refused.headers["x-request-id"]]
    assert r401["key"] == f"hash:{access_log.key_hash('sk-not-a-key')}" and "sk-not-a-key" not in json.dumps(bad)
    # `try` explains the fallback it took, with the errors the gateway logged
    t = stack.ops("try", "broken", "--json")
    assert t.returncode == 0, t.stderr
    trial = json.loads(t.stdout)["trial"]
    assert trial["ok"] and trial["served"]["fallbacks"] == "1" and trial["served"]["model_group"] == "plain", trial
    text = stack.ops("try", "broken").stdout
    assert "fallbacks: 1" in text and "fallback taken: `broken` failed" in text and "`plain` answered" in text, text
    # every service's lines merged by time: the proxy's line of the failed request, as JSON
    merged = [json.loads(line) for line in stack.ops("logs", "--json", "--since", "5m").stdout.splitlines()]
    assert [r["time"] for r in merged] == sorted(r["time"] for r in merged)
    mine_logged = [r for r in merged if r["service"] == "proxy" and r.get("fields", {}).get("id") == rid]
    assert len(mine_logged) == 1 and mine_logged[0]["fields"]["status"] == failed.status_code
    assert "sk-not-a-key" not in json.dumps(merged) and key not in json.dumps(merged)


def test_profile_compares_two_routes_at_two_concurrencies(stack):
    r = stack.ops("profile", "gwops-echo", "plain", "--concurrency", "1,4", "--duration", "3", "--stream", "--json")
    assert r.returncode == 0, r.stderr
    steps = json.loads(r.stdout)["steps"]
    assert [(s["route"], s["concurrency"]) for s in steps] == [
        ("gwops-echo", 1),
        ("gwops-echo", 4),
        ("plain", 1),
        ("plain", 4),
    ]
    for s in steps:
        assert s["requests"] > 0 and s["failed"] == 0 and s["rps"] > 0, s
        assert 0 < s["first_p50_ms"] <= s["p99_ms"] and s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"], s
    text = stack.ops("profile", "plain", "--concurrency", "2", "--duration", "2")
    assert text.returncode == 0 and "p50 latency" in text.stdout and "#" in text.stdout, text.stdout
    assert "bill per token" not in text.stderr  # a local OpenAI-compatible server without a key


def test_upgrade_under_load_a_failing_one_and_the_rollback(stack, upgrade_image):
    """LiteLLM 1.106.2 -> UPGRADE_TO under 20 req/s with a virtual key: first an upgrade whose
    migration fails on the database (a view where a migration creates an index: what a hand-made
    schema change does), which leaves the old version serving and names the step and migration;
    then the upgrade, then `--rollback`: no request fails, keys and spend intact, the new
    migrations recorded, spend rows written by both versions."""
    before = stack.new_key("before-upgrade")
    key = stack.new_key("upgrade")
    doc = yaml.safe_load((stack.root / "config/stack.yaml").read_text())
    old = doc["images"]["litellm_version"]

    def version() -> str:
        return json.loads(stack.ops("status", "--json").stdout)["gateway"]["litellm_version"]

    assert version() == old
    dry = stack.ops("upgrade", "--to", UPGRADE_TO, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["running"] == old and plan["target"] == UPGRADE_TO and plan["image_how"] == "present"
    assert "20261009000100_telemetry_reports" in plan["pending"] and plan["breaking"] == {}

    stack.psql('CREATE VIEW "LiteLLM_TelemetryReport" AS SELECT 1 AS id')
    with Background(stack.url, key, rate=20, stream_share=0.2, models_share=0.0) as bg:
        failed = stack.ops("upgrade", "--to", UPGRADE_TO)
        assert failed.returncode == 4, failed.stderr
        assert "step `migrations`" in failed.stderr and "20261009000100_telemetry_reports" in failed.stderr
        assert (
            version() == old
            and yaml.safe_load((stack.root / "config/stack.yaml").read_text())["images"]["litellm_version"] == old
        )
        applied = set(stack.psql('SELECT migration_name FROM "_prisma_migrations"').split())
        assert "20261008120000_user_provider_credentials" in applied  # the ones before it stay
        assert "20261009000100_telemetry_reports" not in applied  # nothing of it kept
        stack.psql('DROP VIEW "LiteLLM_TelemetryReport"')

        t0 = time.monotonic()
        up = stack.ops("upgrade", "--to", UPGRADE_TO)
        upgrade_seconds = time.monotonic() - t0
        assert up.returncode == 0, up.stderr
        assert version() == UPGRADE_TO
        assert stack.chat(before).status_code == 200  # a key made before the upgrade
        applied = set(stack.psql('SELECT migration_name FROM "_prisma_migrations"').split())
        assert {m for m in plan["pending"]} <= applied
        hold(3)  # requests to the new version before the way back

        back = stack.ops("upgrade", "--rollback")
        assert back.returncode == 0, back.stderr
        assert version() == old
        hold(3)
    res = bg.result
    print(res.summary(), f"(upgrade {upgrade_seconds:.1f} s: {up.stderr.strip().splitlines()[-2]})")
    assert res.failures == [], [f"{o.kind}: {o.error[:100]}" for o in res.failures[:5]]
    assert res.switches() == 2  # the failed upgrade never switched; the upgrade and the rollback did
    pinned = yaml.safe_load((stack.root / "config/stack.yaml").read_text())["images"]["litellm_version"]
    assert pinned == old
    answered = len(res.outcomes)
    by_slot = {s: res.slots_in_order().count(s) for s in set(res.slots_in_order())}
    assert len(by_slot) == 2 and min(by_slot.values()) > 0, by_slot  # both versions served
    poll(lambda: stack.spend_rows("upgrade") >= answered or None, 120, 2)
    assert stack.spend_rows("upgrade") == answered  # every request of both versions has its spend row


def test_requests_lists_every_recorded_request_and_sums_them_per_route(stack):
    n = stack.spend_rows("upgrade")  # the upgrade test's load, all recorded
    r = stack.ops("requests", "--key", "upgrade", "--limit", "100000", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["requests"]
    assert len(rows) == n > 0
    assert {(x["key"], x["route"], x["status"]) for x in rows} == {("upgrade", "gwops-echo", "ok")}
    assert all(x["latency_ms"] >= 0 and x["tokens"] > 0 for x in rows)
    assert [x["time"] for x in rows] == sorted((x["time"] for x in rows), reverse=True)  # newest first
    s = stack.ops("requests", "--key", "upgrade", "--summary", "--json")
    assert s.returncode == 0, s.stderr
    (route,) = json.loads(s.stdout)["routes"]
    assert route["route"] == "gwops-echo" and route["requests"] == n and route["failed"] == 0
    assert route["p50_ms"] <= route["p95_ms"] <= route["p99_ms"]
    assert stack.ops("requests", "--status", "failed", "--key", "upgrade", "--json").stdout.count('"id"') == 0
    # a filter is a value, never SQL
    odd = stack.ops("requests", "--route", 'x\'; DROP TABLE "LiteLLM_SpendLogs"; --', "--json")
    assert odd.returncode == 0 and json.loads(odd.stdout)["requests"] == [], odd.stderr
    assert stack.spend_rows("upgrade") == n
