"""Tables for people: Markdown (README, benchmark outputs) and aligned plain text (terminals).

Every table this project prints goes through these two functions, so a column is added in one
place and every table reads the same.
"""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """``| a | b |`` rows under a header line and a ``| --- |`` rule; cells are str()-ed as given."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells for {len(header)} columns: {row}")
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines)


def text_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell, a dashed rule under the header (for terminals)."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plural(n: int, noun: str) -> str:
    """``plural(1, "track")`` → "1 track", ``plural(3, "track")`` → "3 tracks"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
