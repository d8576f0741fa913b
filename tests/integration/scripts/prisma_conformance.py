"""Run inside a gateway container (its own Python, the Prisma client LiteLLM uses, the engine
the image ships): every query shape LiteLLM's paths use, through the engine, written under ids
starting with `conf-`. Prints one JSON document of what the client read back; the test checks
the rows themselves with psql in the Postgres container, not through the engine."""

import asyncio
import datetime as dt
import json

from prisma import Prisma, errors

T0 = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


async def main() -> None:
    db = Prisma()
    await db.connect()
    out: dict = {}
    team = await db.litellm_teamtable.create(
        data={
            "team_id": "conf-team",
            "team_alias": "conf team",
            "models": ["a", "b"],
            "rpm_limit": 9007199254740993,
            "metadata": json.dumps({"owner": "ops", "n": 1, "nested": {"x": [1, 2]}}),
            "budget_reset_at": T0,
            "max_budget": 12.5,
        }
    )
    out["team_read"] = {
        "rpm_limit": team.rpm_limit,
        "metadata": team.metadata,
        "models": team.models,
        "budget_reset_at": team.budget_reset_at.isoformat(),
    }
    await db.litellm_verificationtoken.create(
        data={
            "token": "conf-token",
            "key_alias": "conf-key",
            "team_id": "conf-team",
            "metadata": json.dumps({"k": "v"}),
            "expires": T0,
            "models": [],
            "spend": 0.0,
        }
    )
    found = await db.litellm_verificationtoken.find_unique(
        where={"token": "conf-token"}, include={"litellm_budget_table": True}
    )
    out["token_found"] = found is not None and found.key_alias == "conf-key"
    await db.litellm_verificationtoken.update(where={"token": "conf-token"}, data={"spend": {"increment": 1.25}})
    await db.litellm_teamtable.update(where={"team_id": "conf-team"}, data={"spend": {"increment": 2.0}})
    many = await db.litellm_verificationtoken.find_many(
        where={"token": {"in": ["conf-token", "conf-none"]}}, order={"created_at": "desc"}, take=10
    )
    out["find_many"] = [t.token for t in many]
    out["count"] = await db.litellm_verificationtoken.count(where={"team_id": "conf-team"})
    async with db.batch_() as batch:  # LiteLLM's spend flush writes this way
        batch.litellm_verificationtoken.update(where={"token": "conf-token"}, data={"spend": {"increment": 1}})
        batch.litellm_teamtable.update(where={"team_id": "conf-team"}, data={"spend": {"increment": 1}})
    try:
        async with db.tx() as tx:
            await tx.litellm_teamtable.create(data={"team_id": "conf-rolled-back"})
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    async with db.tx() as tx:
        await tx.litellm_teamtable.create(data={"team_id": "conf-committed"})
    try:
        await db.litellm_teamtable.create(data={"team_id": "conf-team"})
        out["unique"] = "no error"
    except errors.UniqueViolationError:
        out["unique"] = "UniqueViolationError"
    await db.litellm_teamtable.upsert(
        where={"team_id": "conf-upserted"},
        data={"create": {"team_id": "conf-upserted", "team_alias": "first"}, "update": {"team_alias": "second"}},
    )
    await db.litellm_teamtable.upsert(
        where={"team_id": "conf-upserted"},
        data={"create": {"team_id": "conf-upserted", "team_alias": "first"}, "update": {"team_alias": "second"}},
    )
    out["raw"] = await db.query_raw(
        "SELECT ARRAY_AGG(tablename ORDER BY tablename) AS names, 2::bigint AS big, "
        "'{\"a\": 1}'::jsonb AS doc, now() > $1::timestamptz AS later FROM pg_tables WHERE tablename = $2",
        "2020-01-01T00:00:00+00:00",
        "LiteLLM_TeamTable",
    )
    out["execute_raw"] = await db.execute_raw(
        'UPDATE "LiteLLM_TeamTable" SET team_alias = $1 WHERE team_id = $2', "raw alias", "conf-committed"
    )
    groups = await db.litellm_teamtable.group_by(
        by=["team_id"], where={"team_id": {"startswith": "conf-"}}, sum={"spend": True}, order={"team_id": "asc"}
    )
    out["group_by"] = {g["team_id"]: g["_sum"]["spend"] for g in groups}
    try:  # a shape the adapter does not know: refused, naming the operation
        await db._engine.query(
            json.dumps({"query": "query { result: findUniqueNoSuchModel(where: {id: 1}) { id } }", "variables": {}}),
            tx_id=None,
        )
        out["refused"] = "no error"
    except errors.DataError as exc:
        out["refused"] = str(exc)
    try:  # an argument it does not know on a known model: refused, naming model and operation
        await db._engine.query(
            json.dumps(
                {"query": "query { result: findManyLiteLLM_TeamTable(skipMe: 1) { team_id } }", "variables": {}}
            ),
            tx_id=None,
        )
        out["refused_argument"] = "no error"
    except errors.DataError as exc:
        out["refused_argument"] = str(exc)
    out["deleted"] = await db.litellm_verificationtoken.delete_many(where={"token": "conf-none"})
    await db.disconnect()
    print(json.dumps(out, default=str))


asyncio.run(main())
