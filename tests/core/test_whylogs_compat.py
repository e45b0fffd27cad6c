"""The numpy-2 shim for whylogs: still needed? This test tells."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from core.whylogs_compat import import_whylogs

LOG_STRING_COLUMN = textwrap.dedent(
    """
    import pandas as pd
    import whylogs
    whylogs.log(pd.DataFrame({"s": pd.Series(["a", "b", "c"], dtype="string")}))
    print("LOGGED")
    """
)


def test_string_column_logs_with_the_shim() -> None:
    import pandas as pd

    why = import_whylogs()
    view = why.log(pd.DataFrame({"s": pd.Series(["a", "b", "a"], dtype="string"), "x": [1.0, 2.0, None]})).view()
    counts = view.get_column("s").to_summary_dict()["counts/n"]
    assert counts == 3


def test_shim_is_still_needed() -> None:
    """Without the shim, whylogs 1.6.4 fails on numpy 2. When this test fails, the shim can go:
    whylogs (or numpy) fixed it; delete core/whylogs_compat.py's shim and this test."""
    proc = subprocess.run([sys.executable, "-c", LOG_STRING_COLUMN], capture_output=True, text=True, timeout=120)
    still_broken = proc.returncode != 0 and "unicode_" in proc.stderr
    assert still_broken, "whylogs now logs string columns without the numpy shim: remove core/whylogs_compat's shim"
