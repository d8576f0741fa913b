"""Per-table row counts read off a plain pg_dump stream, chunk by chunk, in flat memory.

A plain dump carries each table's rows between `COPY name (...) FROM stdin;` and a line `\\.`;
counting the lines between them gives exactly what the dump holds, from the dump's own snapshot.
"""

from __future__ import annotations


class CopyCounter:
    TRAILER = b"-- PostgreSQL database dump complete"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.table: str | None = None
        self.buf = b""  # always starts at the beginning of a line
        self.complete = False

    def feed(self, chunk: bytes) -> None:
        buf = self.buf + chunk if self.buf else chunk
        pos = 0
        n = len(buf)
        while pos < n:
            if self.table is not None:
                if buf.startswith(b"\\.\n", pos):
                    self.table = None
                    pos += 3
                    continue
                end = buf.find(b"\n\\.\n", pos)
                if end >= 0:
                    self.counts[self.table] += buf.count(b"\n", pos, end + 1)
                    self.table = None
                    pos = end + 4
                    continue
                last = buf.rfind(b"\n", pos)
                if last < 0:
                    break
                self.counts[self.table] += buf.count(b"\n", pos, last + 1)
                pos = last + 1
                break
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            line = buf[pos:nl]
            pos = nl + 1
            if line.startswith(b"COPY ") and line.endswith(b" FROM stdin;"):
                name = line[5:-12]
                paren = name.find(b" (")
                self.table = (name[:paren] if paren >= 0 else name).decode()
                self.counts[self.table] = 0
            elif line.startswith(self.TRAILER):
                self.complete = True
        self.buf = buf[pos:]
