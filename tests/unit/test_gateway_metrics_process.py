"""The gateway image's metrics process (gwops_metrics.py, started by gwops_entry.py from LiteLLM's
`--prometheus_metrics_port` flag): it sums the workers' multiprocess files and asks for the key."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.unit
IMAGE = Path(__file__).resolve().parents[2] / "src/gwops/components/gateway/image"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, IMAGE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


entry, served = load("gwops_entry"), load("gwops_metrics")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["litellm", "--port", "4000", "--prometheus_metrics_port", "9400", "--run_gunicorn"],
            (["litellm", "--port", "4000", "--run_gunicorn"], 9400),
        ),
        (["litellm", "--prometheus_metrics_port=9401"], (["litellm"], 9401)),
        (["litellm", "--port", "4000"], (["litellm", "--port", "4000"], None)),
    ],
)
def test_the_entry_takes_the_metrics_flag_from_litellm(argv, expected):
    assert entry.take_metrics_port(argv) == expected


def test_it_sums_every_worker_and_wants_the_key(tmp_path):
    # two "workers" count into the multiprocess directory, as LiteLLM's do
    worker = textwrap.dedent("""
        import sys
        from prometheus_client import Counter
        Counter("litellm_requests_metric", "requests", ["model"]).labels("m").inc(int(sys.argv[1]))
    """)
    for n in (3, 4):
        subprocess.run(
            [sys.executable, "-c", worker, str(n)], env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}, check=True
        )
    server = ThreadingHTTPServer(("127.0.0.1", 0), served.make_handler(str(tmp_path), "sk-test"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer sk-other"}).status_code == 401
        assert httpx.get(f"{url}/other", headers={"Authorization": "Bearer sk-test"}).status_code == 404
        r = httpx.get(f"{url}/metrics/", headers={"Authorization": "Bearer sk-test"})
        assert r.status_code == 200
        assert 'litellm_requests_metric_total{model="m"} 7.0' in r.text
    finally:
        server.shutdown()
