"""Plain JSON values from Vigil's objects: the one serializer behind every ``--json`` output."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any


def jsonable(obj: Any) -> Any:
    """Dataclasses, datetimes, sets, paths and NaN -> plain JSON values (recursively)."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and not isinstance(obj, type):
        return jsonable(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, set | frozenset):
        items = [jsonable(v) for v in obj]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if getattr(obj, "ndim", None) == 0 and callable(getattr(obj, "item", None)):  # numpy scalars (np.int64)
        return jsonable(obj.item())
    return str(obj)
