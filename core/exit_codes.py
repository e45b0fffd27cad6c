"""The exit codes of every `vigil` command, in one place (README and `--help` list them from here)."""

from __future__ import annotations

OK = 0
FAILED = 1  # a check failed, a file was quarantined, a cycle failed, a reproduction did not match
USAGE = 2  # bad arguments, a config error, a refused action (the message says why, with a hint)
STORE_UNAVAILABLE = 3  # a store is missing, busy past its retry budget, corrupt, or its disk is full

MEANINGS: dict[int, str] = {
    OK: "ok",
    FAILED: "checks failed, something was quarantined, or a cycle failed",
    USAGE: "usage or config error, or a refused action",
    STORE_UNAVAILABLE: "a store is missing, locked, corrupt or out of disk",
}


def summary() -> str:
    """'0 ok; 1 ...; 2 ...; 3 ...' for `--help`."""
    return "; ".join(f"{code} {text}" for code, text in MEANINGS.items())
