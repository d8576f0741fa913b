"""`bin/ops profile`: the closed loop against a real HTTP server (the fake provider), steps and
their percentiles, the text chart, and the refusal of routes that bill per token."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gwops import profile
from gwops.loadgen import LoadResult, Outcome, run_closed
from tests import fakes

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def test_a_closed_loop_keeps_c_clients_busy_and_times_the_first_chunk_of_streams():
    fake = fakes.start_openai()
    try:
        url = f"http://127.0.0.1:{fake.server_address[1]}"
        chat = run_closed(url, "k", 4, 1.0, "plain", max_tokens=8)
        streams = run_closed(url, "k", 2, 1.0, "plain", stream=True)
    finally:
        fake.shutdown()
    assert chat.outcomes and not chat.failures and {o.kind for o in chat.outcomes} == {"chat"}
    # never more than 4 at once: each client sends its next request once its last one ended
    spans = sorted((o.sent, o.sent + o.latency) for o in chat.outcomes)
    assert max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans) <= 4
    assert {o.kind for o in streams.outcomes} == {"stream"} and not streams.failures
    assert all(o.first_data is not None and 0 < o.first_data <= o.latency for o in streams.outcomes)
    s = profile.step("plain", 2, streams)
    assert s.requests == len(streams.outcomes) and s.failed == 0 and s.rps > 0
    assert s.p50_ms <= s.p95_ms <= s.p99_ms and s.first_p50_ms is not None and s.first_p50_ms <= s.p99_ms


def test_a_step_counts_failures_and_keeps_the_first_error():
    res = LoadResult(
        outcomes=[
            Outcome(i, 0.0, "chat", "new", i != 3, 0.01 * (i + 1), error="HTTP 500" if i == 3 else "")
            for i in range(10)
        ],
        seconds=2.0,
    )
    s = profile.step("r", 1, res)
    assert (s.requests, s.failed, s.rps, s.error) == (10, 1, 4.5, "HTTP 500")
    assert s.p50_ms == 60.0 and s.first_p50_ms is None


def test_billed_routes_and_the_estimate():
    types = {"oa": "openai", "local": "ollama", "paid": "openai_compatible", "free": "openai_compatible"}
    routes = {"gpt": ["oa"], "llama": ["local"], "x": ["local", "paid"], "y": ["free"]}
    assert profile.billed(types, {"paid"}, routes) == {"gpt": "oa", "x": "paid"}
    assert profile.estimate(2, [1, 4], 10, 32) == (200, 200 * 44)


def test_the_chart_draws_a_bar_per_step_scaled_to_the_largest():
    steps = [
        profile.Step("a", 1, 10, 0, 10.0, 10.0, 12.0, 13.0, None, None),
        profile.Step("a", 4, 20, 0, 20.0, 40.0, 50.0, 60.0, None, None),
    ]
    head, one, four = profile.chart(steps, width=20)
    assert "up to 40 ms" in head and one.count("#") == 5 and four.count("#") == 20 and four.count("=") == 10


def test_a_route_that_bills_per_token_is_refused_without_yes_costs(tmp_path):
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "state").mkdir()
    shutil.copy(REPO / "docker-compose.yml", root)
    shutil.copy(REPO / "config/stack.yaml", root / "config")
    (root / "config/providers.yaml").write_text(
        "providers:\n  oa:\n    type: openai\n    api_key_env: OPENAI_API_KEY\n    models: [gpt-4o-mini]\n"
    )
    (root / ".env").write_text("LITELLM_MASTER_KEY=sk-x\nOPENAI_API_KEY=sk-y\n")
    env = {**os.environ, "GWOPS_ROOT": str(root), "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run(
        [sys.executable, "-m", "gwops.cli", "profile", "gpt-4o-mini", "--duration", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 7, res.stderr
    assert (
        "`gpt-4o-mini` (oa) bill per token" in res.stderr and "at most about 84 requests" in res.stderr
    )  # (1+4+16) clients x 2 s x 2/s
    assert "--yes-costs" in res.stderr and "Traceback" not in res.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "gwops.cli", "profile", "--concurrency", "0,x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "comma-separated" in bad.stderr
