"""A configured decision value (``predictions.positive_decision``) in the column's own type.

The value may be a string ('approve'), an integer (1) or a boolean (true). Statistics key
categories by their text (``CAST(v AS VARCHAR)``), so a value is matched by meaning, not
by spelling: 1 matches '1' and '1.0', true matches 'true' / 'True' / '1'. In SQL the
column is cast to the value's type with TRY_CAST, so a text column never makes the
comparison fail.
"""

from __future__ import annotations

import math

DecisionValue = str | int | bool

_TRUE = frozenset({"true", "t", "1", "1.0", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "0.0", "no", "n"})


def matches(text: object, value: DecisionValue) -> bool:
    """True when a stored category text (or raw value) means the configured decision."""
    if text is None:
        return False
    if isinstance(value, bool):
        if isinstance(text, bool):
            return text is value
        t = str(text).strip().lower()
        return t in (_TRUE if value else _FALSE)
    if isinstance(value, int):
        if isinstance(text, bool):
            return int(text) == value
        try:
            number = float(str(text).strip())
        except ValueError:
            return False
        return math.isfinite(number) and number == value
    return str(text) == value


def match_sql(column_sql: str, value: DecisionValue) -> tuple[str, list[object]]:
    """SQL (one parameter) that is true when the column holds the decision; never NULL."""
    if isinstance(value, bool):
        return f"coalesce(TRY_CAST({column_sql} AS BOOLEAN) = ?, false)", [value]
    if isinstance(value, int):
        return f"coalesce(TRY_CAST({column_sql} AS DOUBLE) = ?, false)", [float(value)]
    return f"coalesce(CAST({column_sql} AS VARCHAR) = ?, false)", [value]


def share(categories: dict[str, int], value: DecisionValue) -> float:
    """Share of the rows whose category means the decision."""
    total = sum(categories.values())
    if total <= 0:
        return 0.0
    return sum(v for k, v in categories.items() if matches(k, value)) / total
