"""One YAML loader for every source file: data plus the line of every key.

Turns syntax errors, duplicate keys, bad encodings, oversized or deeply nested files into
`Problem`s with file:line:column instead of tracebacks. Every later stage asks the returned
`SourceDoc` where a key path lives, so its messages point at the line too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gwops.errors import Problem

MAX_BYTES = 2 * 1024 * 1024  # no hand-written config is this large; refuse before parsing
MAX_DEPTH = 64

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class SourceDoc:
    """Parsed data of one file, with the (line, column) of every key path (1-based)."""

    file: str
    data: Any
    marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    sha256: str | None = None  # of the source bytes, when loaded from a file

    def locate(self, path: KeyPath) -> tuple[int, int]:
        """Line and column of `path`, or of its nearest located ancestor."""
        p = tuple(path)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, path: KeyPath, message: str, hint: str = "", stage: str = "") -> Problem:
        line, col = self.locate(path)
        return Problem(self.file, line, col, format_path(path), message, hint, stage)


class _Builder:
    def __init__(self, file: str, loader: Any):
        self.file = file
        self.loader = loader
        self.marks: dict[KeyPath, tuple[int, int]] = {}
        self.problems: list[Problem] = []

    def _mark(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: KeyPath, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            line, col = self._mark(node)
            self.problems.append(
                Problem(
                    self.file,
                    line,
                    col,
                    format_path(path),
                    f"nesting deeper than {MAX_DEPTH} levels",
                    "flatten this structure",
                    "parse",
                )
            )
            return None
        self.marks.setdefault(path, self._mark(node))
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                # Keys are taken as written: YAML 1.1 would turn `off`, `no` or `1.10` into
                # bool/float keys, a classic source of silently wrong provider names.
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    line, col = self._mark(key_node)
                    self.problems.append(
                        Problem(
                            self.file,
                            line,
                            col,
                            format_path(path),
                            "mapping keys must be plain strings",
                            "quote the key",
                            "parse",
                        )
                    )
                    continue
                child = (*path, key)
                if key in out:
                    line, col = self._mark(key_node)
                    first = self.marks.get(child, (0, 0))[0]
                    self.problems.append(
                        Problem(
                            self.file,
                            line,
                            col,
                            format_path(child),
                            f"duplicate key `{key}` (first defined on line {first})",
                            "remove one of the two entries; YAML would silently keep the last",
                            "parse",
                        )
                    )
                    continue
                self.marks[child] = self._mark(key_node)
                out[key] = self.build(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, (*path, i), depth + 1) for i, v in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def load_text(text: str, file: str) -> tuple[SourceDoc | None, list[Problem]]:
    # libyaml when available: ~10x faster on large files, same nodes and marks
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return SourceDoc(file, None, {(): (1, 1)}), []
        builder = _Builder(file, loader)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        return None, [
            Problem(file, line, col, "", f"YAML syntax error: {what}", "fix the YAML syntax at this position", "parse")
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, 1, "", f"YAML error: {exc}", "fix the YAML syntax", "parse")]
    except RecursionError:
        return None, [
            Problem(file, 1, 1, "", f"nesting deeper than {MAX_DEPTH} levels", "flatten this structure", "parse")
        ]
    finally:
        loader.dispose()
    if builder.problems:
        return None, builder.problems
    return SourceDoc(file, data, builder.marks), []


def load_file(path: Path, display: str | None = None) -> tuple[SourceDoc | None, list[Problem]]:
    """Load one YAML file. Never raises for bad content; returns problems instead."""
    file = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [
                Problem(
                    file,
                    0,
                    0,
                    "",
                    f"file is {size} bytes, over the {MAX_BYTES} byte limit",
                    "is this the right file? config sources are small YAML files",
                    "parse",
                )
            ]
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(file, 0, 0, "", "file not found", "create it, or run from the project root", "parse")]
    except OSError as exc:
        return None, [Problem(file, 0, 0, "", f"cannot read: {exc.strerror}", "check permissions", "parse")]
    if b"\x00" in raw:
        return None, [
            Problem(
                file,
                1,
                1,
                "",
                "file is binary (contains NUL bytes), not YAML",
                "replace it with a YAML text file",
                "parse",
            )
        ]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(
                file, line, col, "", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", "save the file as UTF-8", "parse"
            )
        ]
    doc, problems = load_text(text, file)
    if doc is not None:
        doc.sha256 = hashlib.sha256(raw).hexdigest()
    return doc, problems
