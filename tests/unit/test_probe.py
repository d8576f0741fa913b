"""`bin/ops probe`'s verdicts against a small fake of the OpenAI API (standing in for the gateway)."""

from __future__ import annotations

import pytest

from gwops import probe
from tests import fakes

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def url():
    server = fakes.start_openai()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def matrix(url, route):
    [p] = probe.run(url, "k", [route], 5, lambda m: None)
    return p, {c: r.state for c, r in p.results.items()}


def test_a_route_that_does_everything(url):
    p, m = matrix(url, "full")
    assert m == {"chat": "yes", "streaming": "yes", "embeddings": "yes", "tools": "yes", "json_mode": "yes"}
    assert p.ttft_seconds is not None and p.results["embeddings"].reason == "3 dimensions"


def test_a_chat_only_route(url):
    p, m = matrix(url, "plain")
    assert m == {"chat": "yes", "streaming": "no", "embeddings": "no", "tools": "no", "json_mode": "no"}
    assert "one chunk" in p.results["streaming"].reason and "not an embedding model" in p.results["embeddings"].reason


def test_failures_are_errors_even_behind_a_200(url):
    _, m = matrix(url, "broken")
    assert m["chat"] == "error" and m["embeddings"] == "no"
    p, m = matrix(url, "liar")
    assert m["chat"] == "error" and "the answer is an error" in p.results["chat"].reason


def test_the_matrix_as_metrics(url):
    p, _ = matrix(url, "full")
    samples = probe.samples([p])
    assert ("gwops_probe_capability", {"route": "full", "capability": "tools"}, 1) in samples
    assert any(n == "gwops_probe_ttft_seconds" for n, _, _ in samples)
