"""The incident kinds a drill can inject (`vigil drill TYPE`): shared by the command's declaration
and the drill itself without either importing the other."""

from __future__ import annotations

DRILL_KINDS: tuple[str, ...] = (
    "unit_change", "nulls", "dropped_column", "renamed_column", "retyped_column", "stale_table", "duplicates",
    "volume_drop", "new_category", "covariate_drift", "prediction_shift", "concept_drift",
)
