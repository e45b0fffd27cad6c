"""Quoting for identifiers that come from the validated config (table and column names).

Values are always bound as parameters; identifiers cannot be, so they are quoted here.
"""

from __future__ import annotations


def ident(name: str) -> str:
    """Quote an SQL identifier (DuckDB and SQLite both use double quotes)."""
    if "\x00" in name:
        raise ValueError(f"identifier contains a NUL byte: {name!r}")
    return '"' + name.replace('"', '""') + '"'
