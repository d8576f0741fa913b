"""Property tests: mutated valid configs never raise anything but a located ConfigError."""

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwops.config.pipeline import compile_sources
from gwops.errors import ConfigError

pytestmark = pytest.mark.unit
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "full"
PROVIDERS = yaml.safe_load((GOLDEN / "providers.yaml").read_text())
MAPPINGS = yaml.safe_load((GOLDEN / "model-mappings.yaml").read_text())
ENV = {"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y"}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=8),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


def mutate(doc, path, op, value):
    doc = copy.deepcopy(doc)
    if not path:
        return value if op == "replace" else doc
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "replace":
        parent[last] = value
    elif op == "rename" and isinstance(parent, dict):
        parent[str(value)] = parent.pop(last)
    return doc


@st.composite
def mutated(draw):
    which = draw(st.sampled_from(["providers", "mappings"]))
    doc = PROVIDERS if which == "providers" else MAPPINGS
    path = draw(st.sampled_from(list(paths(doc))))
    op = draw(st.sampled_from(["delete", "replace", "rename"]))
    value = draw(values)
    new = mutate(doc, path, op, value) if path else doc
    return which, new


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_mutations_never_crash_and_are_located(tmp_path, case):
    which, doc = case
    p = doc if which == "providers" else PROVIDERS
    m = doc if which == "mappings" else MAPPINGS
    (tmp_path / "providers.yaml").write_text(yaml.safe_dump(p))
    (tmp_path / "model-mappings.yaml").write_text(yaml.safe_dump(m))
    try:
        compile_sources(tmp_path, env=ENV)
    except ConfigError as exc:
        assert exc.problems
        for prob in exc.problems:
            assert prob.file.startswith("config/") and prob.line >= 1, prob
