"""Command output: JSON for `--json`, aligned text tables for people. One serializer for all."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from core.jsonable import jsonable

__all__ = ["emit", "emit_json", "jsonable", "red", "table"]


def emit_json(data: Any) -> None:
    print(json.dumps(jsonable(data), indent=2, sort_keys=False))


def emit(as_json: bool, data: Any, text: str) -> None:
    """`data` as JSON when --json was given, else the human text."""
    if as_json:
        emit_json(data)
    else:
        print(text)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str = "(none)") -> str:
    """Left-aligned columns under a header row; `empty` when there are no rows."""
    if not rows:
        return empty
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def red(text: str) -> str:
    return f"\x1b[31m{text}\x1b[0m" if sys.stdout.isatty() else text
