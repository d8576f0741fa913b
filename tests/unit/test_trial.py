"""`bin/ops try`'s core against a fake OpenAI-compatible server: the answer, time to first token,
and a failure's raw body with a next step."""

from __future__ import annotations

import pytest

from gwops import trial
from tests import fakes

pytestmark = pytest.mark.unit


@pytest.fixture
def url():
    server = fakes.start_openai()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_answer_and_a_stream_with_its_first_token(url):
    t = trial.run(url, "k", "full", "hi", stream=False, timeout=5)
    assert t.ok and t.status == 200 and t.answer and t.ttft_ms is None and t.error == ""
    s = trial.run(url, "k", "full", "hi", stream=True, timeout=5)
    assert s.ok and s.answer == "1 2 3 4" and 0 < s.ttft_ms <= s.total_ms


def test_a_failure_keeps_the_raw_body_and_says_what_to_do(url):
    t = trial.run(url, "k", "broken", "hi", stream=False, timeout=5)
    assert not t.ok and t.status == 500 and "upstream connection refused" in t.error
    assert "bin/ops providers" in t.next
    gone = trial.run("http://127.0.0.1:9", "k", "full", "hi", stream=False, timeout=5)
    assert not gone.ok and gone.status == 0 and "ConnectError" in gone.error and "bin/ops status" in gone.next
    assert "routes explain x" in trial.next_step(400, "x", '{"error": "Invalid model name passed in model=x"}')


def test_requests_filters_reach_psql_as_variables_never_as_sql():
    import datetime as dt

    from gwops.requests_log import Filters, rows_query, summary_query

    evil = "x'; DROP TABLE y; --"
    f = Filters(dt.datetime(2026, 12, 1), route=evil, key=evil, request_id=evil, status="failed")
    for sql, params in (rows_query(f, 10), summary_query(f)):
        assert evil not in sql and "DROP" not in sql
        assert params == {"since": "2026-12-01 00:00:00.000000", "route": evil, "key": evil, "rid": evil}
        assert ":'route'" in sql and ":'key'" in sql and ":'rid'" in sql and "s.status = 'failure'" in sql
