"""Who is acting: the one policy for the CLI, the scheduler and the first-run admin.

``--user NAME``, else ``$VIGIL_USER``, else the OS account, else ``admin`` (a container
with no passwd entry). The first run names its admin with the same rule, so the CLI keeps
its rights. The name lands in the audit log as the actor.
"""

from __future__ import annotations

import getpass
import os

USER_ENV = "VIGIL_USER"
FALLBACK_USER = "admin"


def acting_username(flag: str | None = None) -> str:
    """--user, else $VIGIL_USER, else the OS account, else 'admin'."""
    if flag:
        return flag
    env = os.environ.get(USER_ENV)
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return FALLBACK_USER
