import pytest

from gwops.yamlsrc import load_file, load_text

pytestmark = pytest.mark.unit


def test_duplicate_key_reported_with_both_lines():
    doc, problems = load_text("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    assert doc is None
    [p] = problems
    assert (p.line, p.column, p.path) == (4, 3, "b.c")
    assert "first defined on line 3" in p.message


def test_syntax_error_has_position():
    _, [p] = load_text("a: [1, 2\nb: 3\n", "f.yaml")
    assert p.file == "f.yaml" and p.line >= 2 and "YAML syntax error" in p.message


def test_marks_for_nested_keys_and_list_items():
    doc, problems = load_text("providers:\n  x:\n    models:\n      - name: m\n", "f.yaml")
    assert not problems
    assert doc.locate(("providers", "x", "models", 0, "name")) == (4, 9)
    assert doc.locate(("providers", "x", "nope")) == (2, 3)  # nearest located ancestor


@pytest.mark.parametrize(
    "raw, needle",
    [
        (b"\x00\x01\x02binary", "binary"),
        (b"a: \xff\xfe\n", "not valid UTF-8"),
        (b"a: " + b"[" * 200 + b"]" * 200 + b"\n", "nesting deeper"),
    ],
)
def test_bad_files_become_problems(tmp_path, raw, needle):
    f = tmp_path / "p.yaml"
    f.write_bytes(raw)
    doc, problems = load_file(f, "p.yaml")
    assert doc is None and needle in problems[0].message


def test_oversized_file_refused_before_parsing(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_bytes(b"# x\n" * (3 * 1024 * 1024 // 4))
    _, [p] = load_file(f, "big.yaml")
    assert "over the" in p.message
