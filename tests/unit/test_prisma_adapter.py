"""The gateway image's database adapter: GraphQL as prisma-client-py writes it, translated to
Prisma's JSON protocol (translate.mjs, run by the machine's Node with the adapter's locked npm
packages, from the cache `bin/ops images build` fills). The whole path against Postgres is in
tests/integration/test_data.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gwops.components import wheels
from tests.conftest import REPO

pytestmark = pytest.mark.unit
ADAPTER = REPO / "src/gwops/components/gateway/image/prisma_adapter"
SCHEMA = """
datasource client {
  provider = "postgresql"
  url      = env("DATABASE_URL") // a comment with "quotes"
}
model Team {
  team_id   String   @id @default(uuid())
  metadata  Json     @default("{}")
  models    String[]
  rpm_limit BigInt?
  reset_at  DateTime?
  spend     Float    @default(0.0)
  role      Role?
  keys      Key[]
  @@index([spend])
}
model Key {
  token   String @id
  team_id String?
  team    Team?  @relation(fields: [team_id], references: [team_id])
}
enum Role {
  admin
  member
}
"""
RUNNER = """
import { readFileSync } from "node:fs";
import { parseSchema } from "./schema.mjs";
import { translate, answer } from "./translate.mjs";
const schema = parseSchema(readFileSync("schema.prisma", "utf8"));
const out = [];
for (const q of JSON.parse(readFileSync("cases.json", "utf8"))) {
  try { out.push({ ok: translate(q, schema) }); } catch (e) { out.push({ refused: e.message }); }
}
out.push({ answer: answer({ data: { findUniqueTeam: { reset_at: { $type: "DateTime", value: "2030-01-01T00:00:00.000Z" },
  metadata: { $type: "Json", value: "{\\"a\\":1}" }, rpm_limit: { $type: "BigInt", value: "9007199254740993" } } } },
  "findUnique") });
console.log(JSON.stringify(out));
"""


@dataclass
class Cache:
    """What gwops.components.wheels.npm_ci needs of `Images`: the same cache `images build` uses."""

    cache: Path = REPO / "state/cache"
    log: Path = REPO / "logs/images-build.log"

    def say(self, message: str) -> None:
        pass


def modules() -> Path:
    """The adapter's locked npm packages, downloaded once (as `bin/ops images build` does)."""
    return wheels.npm_ci(Cache(), "prisma-adapter", ADAPTER, "the adapter's packages")  # type: ignore[arg-type]


def run(tmp_path: Path, cases: list[str]) -> list[dict]:
    if shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("no `node` on this machine (the adapter's unit tests run it)")
        pytest.skip("no Node.js on this machine")
    for f in ("translate.mjs", "schema.mjs"):
        shutil.copy(ADAPTER / f, tmp_path / f)
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "node_modules").symlink_to(modules())
    (tmp_path / "schema.prisma").write_text(SCHEMA)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "run.mjs").write_text(RUNNER)
    out = subprocess.run(["node", "run.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_values_are_typed_from_the_schema(tmp_path):
    create, find, count = run(
        tmp_path,
        [
            'mutation { result: createOneTeam(data: { team_id: "t", metadata: "{\\"a\\": [1, 2]}", models: ["x", "y"], '
            'rpm_limit: 9007199254740993, reset_at: "2030-01-01T00:00:00+00:00", role: "admin", '
            'keys: { create: [{ token: "k" }] } }) { team_id metadata } }',
            'query { result: findUniqueKey(where: { token: "k" }) { token team { team_id metadata } team_id } }',
            'query { result: findManyTeam(where: { OR: [{ reset_at: { in: ["2030-01-01T00:00:00+00:00"] } }, '
            '{ metadata: null }, { spend: { gt: 1.5 } }] }, orderBy: [{ spend: "desc" }], take: 5) { team_id } }',
        ],
    )[:3]
    args = create["ok"]["query"]["arguments"]["data"]
    assert create["ok"]["modelName"] == "Team" and create["ok"]["action"] == "createOne"
    assert args["metadata"] == {"$type": "Json", "value": '{"a": [1, 2]}'}  # JSON, not a JSON string
    assert args["rpm_limit"] == {"$type": "BigInt", "value": "9007199254740993"}  # past 2^53, exact
    assert args["reset_at"] == {"$type": "DateTime", "value": "2030-01-01T00:00:00+00:00"}
    assert args["models"] == ["x", "y"] and args["role"] == "admin"
    assert args["keys"] == {"create": [{"token": "k"}]}  # a nested write, typed against Key
    assert create["ok"]["query"]["selection"] == {"team_id": True, "metadata": True}
    sel = find["ok"]["query"]["selection"]
    assert sel["team"] == {"arguments": {}, "selection": {"team_id": True, "metadata": True}}
    where = count["ok"]["query"]["arguments"]
    assert where["where"]["OR"][0] == {
        "reset_at": {"in": [{"$type": "DateTime", "value": "2030-01-01T00:00:00+00:00"}]}
    }
    assert where["where"]["OR"][1] == {"metadata": {"$type": "Enum", "value": "DbNull"}}
    assert where["where"]["OR"][2] == {"spend": {"gt": 1.5}} and where["orderBy"] == [{"spend": "desc"}]


def test_raw_queries_and_aggregates_keep_their_shape(tmp_path):
    raw, agg, upsert = run(
        tmp_path,
        [
            'mutation { result: queryRaw(query: "SELECT $1", parameters: "[\\"a\\"]") }',
            "query { result: aggregateTeam(where: { spend: { gte: 0 } }) { _count { _all } } }",
            'mutation { result: upsertOneTeam(where: { team_id: "t" }, create: { team_id: "t" }, '
            "update: { spend: { increment: 2 } }) { team_id } }",
        ],
    )[:3]
    assert raw["ok"] == {
        "action": "queryRaw",
        "query": {"arguments": {"parameters": '["a"]', "query": "SELECT $1"}, "selection": {}},
    }
    assert agg["ok"]["query"]["selection"] == {"_count": {"selection": {"_all": True}}}
    assert upsert["ok"]["query"]["arguments"]["update"] == {"spend": {"increment": 2}}


def test_unknown_shapes_are_refused_naming_model_and_operation(tmp_path):
    out = run(
        tmp_path,
        [
            "query { result: findUniqueNope(where: { id: 1 }) { id } }",
            "query { result: findManyTeam(select: { team_id: true }) { team_id } }",
            "query { result: findManyTeam(where: { nope: 1 }) { team_id } }",
            "query Q($id: String) { result: findUniqueTeam(where: { team_id: $id }) { team_id } }",
            "query { result: findManyTeam { alias: team_id } }",
            "query { result: findManyTeam { team_id ...F } } fragment F on Team { spend }",
            "query { a: findManyTeam { team_id } b: findManyKey { token } }",
        ],
    )[:7]
    refused = [o.get("refused", "") for o in out]
    assert all(
        r.startswith("gwops prisma adapter: ") and r.endswith("this query shape is not translated") for r in refused
    ), refused
    assert "unknown operation `findUniqueNope`" in refused[0]
    assert "unknown argument `select` (model Team, operation findMany)" in refused[1]
    assert "unknown field `nope` of Team (model Team, operation findMany)" in refused[2]
    assert "without variables" in refused[3] and "alias" in refused[4]
    assert "exactly one operation" in refused[5] and "one root field" in refused[6]


def test_answers_unwrap_typed_values_as_the_native_engine_gave_them(tmp_path):
    answer = run(tmp_path, [])[-1]["answer"]
    assert answer == {
        "data": {
            "result": {"reset_at": "2030-01-01T00:00:00.000Z", "metadata": '{"a":1}', "rpm_limit": "9007199254740993"}
        }
    }
