"""The proxy's access log read back (gwops.access_log), `requests` joining it with spend-log rows
(gwops.requests_log.RequestLog), and `logs --json` merging services by time (gwops.logview)."""

from __future__ import annotations

import datetime as dt
import json

from gwops import access_log, logview
from gwops.requests_log import Filters, RequestLog

MASTER_HASH = access_log.key_hash("sk-master")
KEYS = {MASTER_HASH: access_log.MASTER, "aaaaaaaaaaaaaaaa": "alice"}
T0 = dt.datetime(2026, 12, 7, 12, 0, 0)


def line(rid: str, status: int = 200, at: float = 0.0, **extra: object) -> str:
    """A line as haproxy.cfg's log-format writes it (absent values are `-`, numbers from headers
    are strings)."""
    doc = {
        "ts": T0.replace(tzinfo=dt.UTC).timestamp() + at,
        "id": rid,
        "client": "172.18.0.1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "route": "gwops-echo",
        "key": MASTER_HASH,
        "status": status,
        "bytes_in": 300,
        "bytes_out": 900,
        "queue_ms": 2,
        "connect_ms": 1,
        "first_byte_ms": 40,
        "total_ms": 45,
        "term": "----",
        "slot": "slot_blue",
        "replica": "gw2",
        "conn_retries": "0",
        "model": "openai/plain",
        "api_base": "http://fake:1/v1",
        "deployment_id": "abc",
        "retries": "0",
        "fallbacks": "1",
        "overhead_ms": "3.5",
        "gateway_ms": "38.2",
        "cost": "-",
    }
    doc.update(extra)
    return json.dumps(doc)


def test_a_line_becomes_a_row_with_the_latency_split_and_never_the_hash_of_a_known_key():
    row = access_log.parse(line("r-1"), KEYS)
    assert row is not None
    assert row["id"] == "r-1" and row["key"] == "(master key)" and row["route"] == "gwops-echo"
    assert row["time"] == "2026-12-07T12:00:00.000000" and row["http_status"] == 200 and row["status"] == "ok"
    assert row["deployment"] == "openai/plain @ http://fake:1/v1" and row["slot"] == "blue" and row["replica"] == "gw2"
    assert (row["retries"], row["fallbacks"]) == (0, 1)
    assert (row["proxy_ms"], row["overhead_ms"], row["provider_ms"], row["latency_ms"]) == (3, 4, 34, 45)
    unknown = access_log.parse(line("r-2", key="0123456789abcdef"), KEYS)
    assert unknown is not None and unknown["key"] == "hash:0123456789abcdef"


def test_what_the_proxy_did_not_get_from_a_gateway_is_none_and_other_lines_are_skipped():
    refused = access_log.parse(
        line("r-3", 503, replica="<NOSRV>", model="-", api_base="-", deployment_id="-", retries="-", gateway_ms="-"),
        KEYS,
    )
    assert refused is not None and refused["status"] == "failed" and refused["deployment"] == ""
    assert refused["retries"] is None and refused["provider_ms"] is None
    for other in ("[WARNING]  (8) : Server slot_green/gw2 is DOWN", '{"ts": "x"}', "{not json", ""):
        assert access_log.parse(other, KEYS) is None


def test_status_filters_take_words_classes_and_codes():
    assert access_log.status_matches(200, "ok") and access_log.status_matches(302, "ok")
    assert access_log.status_matches(401, "failed") and not access_log.status_matches(200, "failed")
    assert access_log.status_matches(503, "5xx") and not access_log.status_matches(429, "5xx")
    assert access_log.status_matches(429, "429") and not access_log.status_matches(429, "401")


def test_with_the_database_off_rows_and_summary_come_from_the_proxy_log():
    lines = [line("a", at=1), line("b", 500, at=2, total_ms=100), line("c", at=3, route="other"), "noise"]
    log = RequestLog(lambda since, follow: iter(lines), KEYS)
    f = Filters(T0)
    assert [r["id"] for r in log.read(f, 10)] == ["c", "b", "a"]  # newest first
    assert [r["id"] for r in log.read(f, 1)] == ["c"]
    assert [r["id"] for r in log.read(Filters(T0, status="5xx"), 10)] == ["b"]
    assert [r["id"] for r in log.read(Filters(T0, route="other"), 10)] == ["c"]
    assert log.read(Filters(T0 + dt.timedelta(seconds=5)), 10) == []  # --since
    (echo, other) = log.summary(f)
    assert (echo["route"], echo["requests"], echo["failed"], echo["error_rate"]) == ("gwops-echo", 2, 1, 0.5)
    assert echo["p50_ms"] == 72.5 and echo["p99_ms"] == 99.5 and other["requests"] == 1


def test_one_request_carries_what_the_gateway_logged_of_it():
    gateway = [
        json.dumps(
            {"message": "Exception occured - litellm_call_id=b - 500 LiteLLM Retried: 2 times", "level": "ERROR"}
        ),
        json.dumps({"message": "unrelated", "level": "INFO"}),
    ]
    failed = line("b", 500, retries="-", fallbacks="-")  # an error response has no such headers
    log = RequestLog(lambda since, follow: iter([line("a"), failed]), KEYS, None, lambda since: iter(gateway))
    (row,) = log.read(Filters(T0, request_id="b"), 10)
    assert row["http_status"] == 500 and row["gateway_log"] == [
        "Exception occured - litellm_call_id=b - 500 LiteLLM Retried: 2 times"
    ]
    assert row["retries"] == 2  # a failure's response has no retries header: LiteLLM's error line says it


def test_spend_log_rows_get_the_proxys_view_of_the_same_request_id():
    db_row = {"id": "b", "call_id": "b", "time": "2026-12-07T12:00:02.100000", "tokens": 7}
    (row,) = access_log.enrich([db_row], [access_log.parse(line("b", at=2), KEYS)])
    assert row["tokens"] == 7 and row["http_status"] == 200 and row["replica"] == "gw2" and row["proxy_ms"] == 3
    (alone,) = access_log.enrich([db_row], [])
    assert alone["http_status"] is None and alone["tokens"] == 7


def test_logs_json_merges_containers_by_time_whatever_docker_trimmed_from_the_stamps():
    # Docker drops trailing zeros from the fraction: "…:01.5Z" is after "…:01.40001Z"
    proxy = [("2026-12-07T12:00:01.5Z", line("a")), ("2026-12-07T12:00:03.000000001Z", "plain text")]
    gateway = [("2026-12-07T12:00:01.40001Z", '{"message": "m", "level": "INFO"}'), ("2026-12-07T12:00:02Z", "x")]
    out = list(logview.merged({("proxy", "p-1"): proxy, ("gateway-blue", "g-1"): gateway}))
    assert [r["container"] for r in out] == ["g-1", "p-1", "g-1", "p-1"]
    assert out[0]["fields"] == {"message": "m", "level": "INFO"} and out[1]["fields"]["id"] == "a"
    assert out[2] == {
        "time": "2026-12-07T12:00:02.000000000Z",
        "service": "gateway-blue",
        "container": "g-1",
        "message": "x",
    }


def test_followed_logs_end_when_every_container_has_stopped():
    out = list(
        logview.followed({("a", "a-1"): lambda: iter([("2026-12-07T12:00:01Z", "1")]), ("b", "b-1"): lambda: iter([])})
    )
    assert [r["message"] for r in out] == ["1"]


def test_a_containers_stderr_line_read_after_a_later_stdout_line_is_put_back_in_order():
    # Docker interleaves a container's two streams as it reads them (seen: 13 µs out of order)
    gateway = [
        ("2026-12-07T12:00:01.545955238Z", "stdout line"),
        ("2026-12-07T12:00:01.545942049Z", "stderr line, earlier"),
        ("2026-12-07T12:00:02Z", "later"),
    ]
    out = list(logview.merged({("gateway-blue", "g-1"): gateway, ("proxy", "p-1"): [("2026-12-07T12:00:01.6Z", "p")]}))
    assert [r["message"] for r in out] == ["stderr line, earlier", "stdout line", "p", "later"]


def test_a_json_log_line_reads_as_level_and_message_with_the_exception_not_the_whole_trace():
    line = json.dumps(
        {
            "message": "Exception occured - litellm_call_id=x",
            "level": "ERROR",
            "stacktrace": 'Traceback (most recent call last):\n  File "a.py", line 1\nValueError: bad base',
        }
    )
    assert logview.readable(line) == "ERROR Exception occured - litellm_call_id=x [ValueError: bad base]"
    assert logview.readable('{"level": "INFO", "message": "ok"}') == "INFO ok"
    assert logview.readable("plain text {") == "plain text {" and logview.readable("{not json") == "{not json"
