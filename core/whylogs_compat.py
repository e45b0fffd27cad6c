"""The one compatibility shim for whylogs 1.6.4 (its last release) under numpy 2.

whylogs uses ``np.unicode_``, removed in numpy 2, when it logs a string column
(a pandas ``string`` or Arrow-backed string dtype; plain ``object`` columns take another path).
Import whylogs only through :func:`import_whylogs`, which applies the shim first.
tests/core/test_whylogs_compat.py logs a string column without the shim and tells
when it is no longer needed.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np


def shim_needed() -> bool:
    return not hasattr(np, "unicode_")


def apply_shim() -> None:
    if shim_needed():
        np.unicode_ = np.str_  # type: ignore[attr-defined]


def import_whylogs() -> ModuleType:
    apply_shim()
    # whylogs phones home for usage statistics at import; this machine (and most
    # production hosts) has no route out, and nothing should leave it anyway.
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
    import whylogs

    return whylogs
