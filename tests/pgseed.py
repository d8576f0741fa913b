"""LiteLLM's real schema (the migrations shipped in `litellm-proxy-extras`, applied in order) and
synthetic rows, for backup tests and the backup benchmark."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from gwops.backup.dump import run


def migrations() -> list[Path]:
    import litellm_proxy_extras

    root = Path(litellm_proxy_extras.__file__).parent / "migrations"
    return sorted(root.glob("*/migration.sql"))


def put_file(container: Any, path: str, data: bytes) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(Path(path).name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    container.client.api.put_archive(container.id, str(Path(path).parent), buf.getvalue())


def psql(container: Any, user: str, db: str, sql: str) -> str:
    put_file(container, "/tmp/seed.sql", sql.encode())
    code, out, err = run(
        container, ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db, "-f", "/tmp/seed.sql"], {}
    )
    assert code == 0, err[-2000:]
    return out


def apply_schema(container: Any, user: str, db: str) -> int:
    files = migrations()
    psql(container, user, db, "\n".join(f.read_text() for f in files))
    return len(files)


def seed_rows(container: Any, user: str, db: str, spend_logs: int, start: int = 1) -> None:
    psql(
        container,
        user,
        db,
        f"""
INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, api_key, spend, total_tokens, prompt_tokens,
    completion_tokens, "startTime", "endTime", model, model_group, metadata, messages, response, team_id)
SELECT 'req-' || g, 'acompletion', 'hashed-key-' || (g % 50), g * 0.0001, g % 4000, g % 3000, g % 1000,
    timestamp '2026-01-01' + (g || ' seconds')::interval, timestamp '2026-01-01' + (g || ' seconds')::interval,
    'model-' || (g % 7), 'group-' || (g % 3), jsonb_build_object('i', g, 'tag', 'synthetic'),
    jsonb_build_object('content', E'hello\\ttab "quote" back\\\\slash\\nnewline ' || g), '{{"ok": true}}'::jsonb,
    'team-' || (g % 5)
FROM generate_series({start}, {start + spend_logs - 1}) g;
INSERT INTO "LiteLLM_VerificationToken" (token, key_alias, models, team_id, spend)
SELECT 'token-{start}-' || g, 'alias-' || g, ARRAY['gpt-4o-mini', 'llama3'], 'team-' || (g % 5), g * 0.5
FROM generate_series(1, 25) g;
""",
    )


def table_digests(container: Any, user: str, db: str) -> dict[str, str]:
    """md5 of every table's full content in the public schema."""
    names = psql(
        container, user, db, "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    ).split()
    sql = "\n".join(
        f"SELECT '{n}', md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {n} t;" for n in names
    )
    out = psql(container, user, db, sql)
    return dict(line.split("|", 1) for line in out.splitlines())
