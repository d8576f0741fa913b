"""The pieces of `bin/ops upgrade` that need no stack: the pin written into stack.yaml with its
comments kept, the gateway's images following `images.litellm_version`, refused releases, the
schema check of migrations, and the hashed locks of the local gateway image."""

from __future__ import annotations

import hashlib
import zipfile

import pytest
import yaml

from gwops import migrations
from gwops.components import wheels
from gwops.errors import ConfigError
from gwops.migrations import Migration
from gwops.settings import StackSettings, load_settings
from gwops.upgrade import target_settings, write_pin
from tests.conftest import REPO


def test_the_pin_is_written_with_every_comment_and_line_kept(tmp_path):
    path = tmp_path / "stack.yaml"
    text = (REPO / "config/stack.yaml").read_text()
    path.write_text(text)
    write_pin(path, "1.108.7")
    new = path.read_text()
    assert load_settings(path).images.litellm_version == "1.108.7"
    assert load_settings(path).images.gateway.local == "gwops/litellm:1.108.7"
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert (
        len(changed) == 1 and "1.108.7" in changed[0][1] and changed[0][1].split("#")[1] == changed[0][0].split("#")[1]
    )


def test_explicit_gateway_tags_move_with_the_version(tmp_path):
    path = tmp_path / "stack.yaml"
    path.write_text(
        "# mine\nimages:\n  prefer: local   # keep\n  litellm_version: 1.106.2\n  gateway:\n"
        "    official: ghcr.io/berriai/litellm:v1.106.2  # official\n    local: gwops/litellm:1.106.2\n"
    )
    write_pin(path, "1.108.7")
    assert path.read_text() == (
        '# mine\nimages:\n  prefer: local   # keep\n  litellm_version: "1.108.7"\n  gateway:\n'
        "    official: ghcr.io/berriai/litellm:v1.108.7  # official\n    local: gwops/litellm:1.108.7\n"
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", 'images:\n  litellm_version: "1.2.3"\n'),
        ("naming: any  # x\n", 'naming: any  # x\nimages:\n  litellm_version: "1.2.3"\n'),
        ("images:\n    prefer: local\n", 'images:\n    litellm_version: "1.2.3"\n    prefer: local\n'),
    ],
)
def test_a_missing_pin_is_added(tmp_path, before, after):
    path = tmp_path / "stack.yaml"
    path.write_text(before)
    write_pin(path, "1.2.3")
    assert path.read_text() == after
    assert yaml.safe_load(after)["images"]["litellm_version"] == "1.2.3"


def test_the_gateway_images_follow_the_version_and_a_contradiction_is_refused(tmp_path):
    s = target_settings(StackSettings(), "1.108.7")
    assert (s.images.gateway.official, s.images.gateway.local) == (
        "ghcr.io/berriai/litellm:v1.108.7",
        "gwops/litellm:1.108.7",
    )
    assert s.images.postgres == StackSettings().images.postgres
    path = tmp_path / "stack.yaml"
    path.write_text('images:\n  litellm_version: "1.108.7"\n  gateway:\n    official: x/litellm:v1.106.2\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert "names LiteLLM 1.106.2" in str(exc.value.problems[0].message)


def test_a_refused_release_is_refused_at_its_line(tmp_path):
    path = tmp_path / "stack.yaml"
    path.write_text('naming: any\nimages:\n  litellm_version: "1.82.7"\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    p = exc.value.problems[0]
    assert p.line == 3 and "refused" in p.message
    path.write_text('images:\n  litellm_version: "1.82.7"\ngateway:\n  refuse_versions: []\n')
    assert load_settings(path).images.litellm_version == "1.82.7"  # the operator's own list


def mig(sql: str) -> Migration:
    return Migration("m", hashlib.sha256(sql.encode()).hexdigest(), sql)


@pytest.mark.parametrize(
    ("sql", "breaks"),
    [
        ('CREATE TABLE IF NOT EXISTS "T" ("id" TEXT NOT NULL, CONSTRAINT "T_pkey" PRIMARY KEY ("id"));', False),
        ('ALTER TABLE "T" ADD COLUMN IF NOT EXISTS "n" TEXT[] DEFAULT ARRAY[]::TEXT[];', False),
        ('ALTER TABLE "T" ADD COLUMN "n" TEXT NOT NULL DEFAULT \'\';', False),
        ('ALTER TABLE "T" ADD COLUMN IF NOT EXISTS "c" TEXT, ALTER COLUMN "model" DROP NOT NULL;', False),
        ('CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "T"("c");', False),
        ('-- we DROP COLUMN nothing here\nDROP INDEX IF EXISTS "old_idx";', False),
        ('ALTER TABLE "T" ADD COLUMN "n" TEXT NOT NULL;', True),
        ('ALTER TABLE "T" DROP COLUMN IF EXISTS "spec_path";', True),
        ('ALTER TABLE "T" RENAME COLUMN "alias" TO "server_name";', True),
        ('ALTER TABLE "T" ALTER COLUMN "n" SET DATA TYPE BIGINT;', True),
        ('ALTER TABLE "T" ALTER COLUMN "group_id" SET NOT NULL;', True),
        ('/* drops */ DROP TABLE "Old";', True),
    ],
)
def test_the_schema_check_tells_additive_migrations_from_breaking_ones(sql, breaks):
    assert bool(migrations.breaking(mig(sql))) is breaks


def test_migrations_are_read_from_a_wheel(tmp_path):
    whl = tmp_path / "litellm_proxy_extras-0.4.110-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("litellm_proxy_extras/migrations/20260102_b/migration.sql", "SELECT 2;")
        z.writestr("litellm_proxy_extras/migrations/20260101_a/migration.sql", "SELECT 1;")
        z.writestr("litellm_proxy_extras/migrations/migration_lock.toml", "x")
    found = migrations.from_wheel(whl)
    assert [m.name for m in found] == ["20260101_a", "20260102_b"]
    assert found[0].checksum == hashlib.sha256(b"SELECT 1;").hexdigest()


def test_a_lock_pins_every_wheel_by_hash_and_its_changes_are_listed(tmp_path):
    d = tmp_path / "wheels"
    d.mkdir()
    (d / "Foo_Bar-1.0-py3-none-any.whl").write_bytes(b"one")
    (d / "baz-2.0-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"two")
    lock = tmp_path / "locks/x.txt"
    assert wheels.write_lock(d, lock, "a header\nof two lines") == 2
    text = lock.read_text()
    assert text.startswith("# a header\n# of two lines\n")
    assert f"foo-bar==1.0 \\\n    --hash=sha256:{hashlib.sha256(b'one').hexdigest()}" in text
    old = wheels.read_lock(lock)
    assert old == wheels.locked_in(d)
    new = dict(old, baz=("2.1", "ab"), qux=("0.1", "cd"))
    del new["foo-bar"]
    assert wheels.lock_changes(old, new) == ["~ baz 2.0 -> 2.1", "- foo-bar 1.0", "+ qux 0.1"]
    assert wheels.lock_changes(old, dict(old, baz=("2.0", "ff"))) == ["~ baz 2.0 (another file: hash changed)"]


def test_the_shipped_lock_pins_the_default_release():
    from gwops.pins import LITELLM_VERSION

    lock = wheels.read_lock(REPO / f"config/locks/litellm-{LITELLM_VERSION}.txt")
    assert lock["litellm"][0] == LITELLM_VERSION
    assert all(len(digest) == 64 for _v, digest in lock.values())
    assert {"prisma", "prometheus-client", "litellm-proxy-extras"} <= lock.keys()


def test_litellms_request_log_indexes_are_read_from_its_declaration():
    source = """
REQUEST_LOG_INDEXES: Final = (
    RequestLogIndex("LiteLLM_SpendLogs", "LiteLLM_SpendLogs_api_key_startTime_idx", '("api_key", "startTime")'),
    RequestLogIndex("LiteLLM_SpendLogs", "LiteLLM_SpendLogs_litellm_call_id_idx", '("litellm_call_id")'),
)
"""
    found = [migrations.LogIndex(*t) for t in migrations.INDEX_DECL.findall(source)]
    assert [ix.name for ix in found] == [
        "LiteLLM_SpendLogs_api_key_startTime_idx",
        "LiteLLM_SpendLogs_litellm_call_id_idx",
    ]
    assert found[0].create_sql() == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "LiteLLM_SpendLogs_api_key_startTime_idx" '
        'ON "LiteLLM_SpendLogs" ("api_key", "startTime")'
    )
