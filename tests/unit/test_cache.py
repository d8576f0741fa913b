"""`bin/ops cache`: Redis' answer to the scan script read back, grouped per model; the generated
config gives the response cache its own namespace."""

from __future__ import annotations

import pytest

from gwops import cache
from gwops.errors import OpsError

pytestmark = pytest.mark.unit


def test_the_scan_answer_is_read_and_grouped_per_model():
    raw = "3\ngwops-cache:aa\n590\n622\ngwops-echo\ngwops-cache:bb\n-1\n100\n\ngwops-cache:cc\n10\n50\ngwops-echo\n"
    s = cache.parse_scan(raw)
    assert s.count == 3 and [e.key for e in s.entries] == ["gwops-cache:aa", "gwops-cache:bb", "gwops-cache:cc"]
    assert s.entries[1].model == "" and s.entries[1].ttl == -1
    assert s.per_model() == [
        {"model": "gwops-echo", "keys": 2, "bytes": 672, "ttl_min": 10, "ttl_max": 590},
        {"model": "?", "keys": 1, "bytes": 100, "ttl_min": -1, "ttl_max": -1},
    ]
    assert cache.parse_scan("0\n").count == 0
    with pytest.raises(OpsError):
        cache.parse_scan("NOSCRIPT something")


def test_the_script_only_ever_looks_under_the_namespace(tmp_path):
    from gwops.config.pipeline import compile_sources

    class Docker:
        def exec(self, service, cmd, env=None):
            self.cmd, self.env = cmd, env
            return 0, "0\n"

    d = Docker()
    cache.scan(d, "secret", model="m", delete=True)
    assert d.cmd[d.cmd.index("EVAL") + 2 :] == ["0", "gwops-cache:*", str(cache.LIMIT), "m", "1"]
    assert "secret" not in d.cmd and d.env == {"REDISCLI_AUTH": "secret"}  # never a process argument
    (tmp_path / "providers.yaml").write_text("providers:\n  lab:\n    type: mock\n    models: [a]\n")
    (tmp_path / "model-mappings.yaml").write_text("router_settings:\n  caching: {enabled: true}\n")
    assert compile_sources(tmp_path).config["litellm_settings"]["cache_params"]["namespace"] == "gwops-cache"
