"""A provider's `base_url` is checked as a URL: file, line and value in the error; good ones pass."""

import pytest

from gwops.config.pipeline import compile_sources
from gwops.config.urls import url_defects
from gwops.errors import ConfigError

pytestmark = pytest.mark.unit


def compile_with(tmp_path, base_url: str, kind: str = "vllm"):
    (tmp_path / "providers.yaml").write_text(
        f"providers:\n  p:\n    type: {kind}\n    base_url: {base_url!r}\n    models: [m]\n"
    )
    return compile_sources(tmp_path, env={})


def problem_for(tmp_path, base_url: str):
    with pytest.raises(ConfigError) as info:
        compile_with(tmp_path, base_url)
    [p] = info.value.problems
    assert (p.file, p.line, p.path) == ("config/providers.yaml", 4, "providers.p.base_url")
    assert repr(base_url) in p.message
    return p


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:8000", "no scheme"),
        ("ftp://h:21", "scheme `ftp` is not `http` or `https`"),
        ("http://h:80:01", "port `80:01` is not a number"),
        ("http://h:8o00", "port `8o00` is not a number"),
        ("http://h:0", "port 0 is out of range"),
        ("http://h:65536", "port 65536 is out of range"),
        ("http://h:8000/x y", "whitespace"),
        ("http://h :8000", "whitespace"),
        ("http://", "no host"),
        ("http://:8000", "no host"),
        ("http://[zz]:1", "not an IPv6 address"),
    ],
)
def test_malformed_base_url_refused(tmp_path, url, why):
    p = problem_for(tmp_path, url)
    assert why in p.message and "e.g. `http://" in p.hint


def test_seed_issue_value_names_every_defect(tmp_path):
    p = problem_for(tmp_path, "localhost:80:01/x y")
    assert "whitespace" in p.message and "no scheme" in p.message and "`80:01`" in p.message


def test_credentials_refused_with_env_hint(tmp_path):
    p = problem_for(tmp_path, "http://user:secret@h:8000")
    assert "credentials" in p.message and "`.env`" in p.hint and "api_key_env" in p.hint


def test_disabled_provider_base_url_checked_too(tmp_path):
    (tmp_path / "providers.yaml").write_text(
        "providers:\n  p:\n    type: vllm\n    status: disabled\n    base_url: 'h:1:2'\n    models: [m]\n"
    )
    with pytest.raises(ConfigError) as info:
        compile_sources(tmp_path, env={})
    assert [p.line for p in info.value.problems] == [5]


@pytest.mark.parametrize(
    ("url", "api_base"),
    [
        ("http://gpu-box.lab:9000", "http://gpu-box.lab:9000/v1"),
        ("https://vllm.example.com/", "https://vllm.example.com/v1"),
        ("http://10.0.0.5:65535/v1", "http://10.0.0.5:65535/v1"),
        ("http://localhost:8001", "http://host.docker.internal:8001/v1"),
        ("http://127.0.0.1:8001", "http://host.docker.internal:8001/v1"),
        ("http://[::1]:8001", "http://host.docker.internal:8001/v1"),
    ],
)
def test_good_base_url_compiles(tmp_path, url, api_base):
    compiled = compile_with(tmp_path, url)
    [entry] = [e for e in compiled.config["model_list"] if e["model_name"] == "m"]
    assert entry["litellm_params"]["api_base"] == api_base


def test_defects_empty_only_for_good_urls():
    assert url_defects("http://h:1") == [] and url_defects("HTTPS://H") == []
    assert url_defects("") == ["it is empty"]
