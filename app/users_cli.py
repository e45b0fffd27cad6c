"""`vigil users add | passwd | role | remove | list` and `vigil audit`.

Who the CLI acts as: ``--user NAME``, else ``$VIGIL_USER``, else the OS account
(``core.identity``). Once a users file exists (``<storage root>/users.yaml`` or
``$VIGIL_USERS_FILE``; the first ``make run`` creates it with a local admin named after the
OS user), that user must be listed there and the command kernel (``app/cli.py``) checks
every command against the action its declaration names: a refused command exits 2 with the
role it needs. Before any users file exists, the CLI acts as the OS user with admin rights,
so the quick start keeps working.

The CLI trusts the OS account (whoever can run it can read the stores anyway); the
dashboard is where passwords are asked for.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from typing import Any

from core import audit, auth, exit_codes
from core.commands import READ, Arg, Command, Group, Opt
from core.output import emit
from core.stores import OpsStore


def _users_path(args: argparse.Namespace) -> Any:
    return auth.users_file(args.load_config().root)


def first_run_admin(root: Any, username: str, ops: OpsStore | None = None) -> str | None:
    """For `make run` / `vigil demo`: on the first run, create the local admin and return the
    one-time message to print on the terminal (never log it); None on later runs."""
    password = auth.ensure_admin(root, username, ops=ops)
    if password is None:
        return None
    path = auth.users_file(root)
    name = auth.list_users(path)[0]["username"]
    return (
        f"Vigil dashboard sign-in (shown once, not stored): user {name}  password {password}\n"
        f"  users file: {path} (hashes only); change it with `vigil users passwd {name}`"
    )


# ---- commands -----------------------------------------------------------------------------


def _ops(args: argparse.Namespace) -> OpsStore:
    return OpsStore(args.load_config().ops_path)


def _new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated). --generate, --password-stdin, or an interactive prompt."""
    if args.generate:
        return secrets.token_urlsafe(15), True
    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise auth.AuthError("no password on stdin (hint: `printf '%s\\n' \"$PW\" | vigil users ... --password-stdin`)")
        return line, False
    if not sys.stdin.isatty():
        raise auth.AuthError("no terminal to ask for a password (hint: --password-stdin or --generate)")
    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        raise auth.AuthError("the two passwords differ; nothing changed")
    return first, False


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    emit(args.json, data, text)


def cmd_users_add(args: argparse.Namespace) -> int:
    path = _users_path(args)
    password, generated = _new_password(args)
    user = auth.add_user(path, args.username, args.role, password, ops=_ops(args), actor=args.user)
    data: dict[str, Any] = {"username": user.username, "role": user.role, "users_file": str(path)}
    text = f"added {user.username} ({user.role}) to {path}"
    if generated:  # shown once, here; only the hash is stored
        data["password"] = password
        text += f"\npassword (shown once): {password}"
    _emit(args, data, text)
    return exit_codes.OK


def cmd_users_passwd(args: argparse.Namespace) -> int:
    path = _users_path(args)
    password, generated = _new_password(args)
    auth.set_password(path, args.username, password, ops=_ops(args), actor=args.user)
    data: dict[str, Any] = {"username": args.username, "sessions_ended": True}
    text = f"password of {args.username} changed; their dashboard sessions ended"
    if generated:
        data["password"] = password
        text += f"\npassword (shown once): {password}"
    _emit(args, data, text)
    return exit_codes.OK


def cmd_users_role(args: argparse.Namespace) -> int:
    user = auth.set_role(_users_path(args), args.username, args.role, ops=_ops(args), actor=args.user)
    _emit(args, {"username": user.username, "role": user.role}, f"{user.username} is now {user.role}")
    return exit_codes.OK


def cmd_users_remove(args: argparse.Namespace) -> int:
    auth.remove_user(_users_path(args), args.username, ops=_ops(args), actor=args.user)
    _emit(args, {"username": args.username, "removed": True}, f"removed {args.username}; their sessions ended")
    return exit_codes.OK


def cmd_users_list(args: argparse.Namespace) -> int:
    path = _users_path(args)
    rows = auth.list_users(path)
    if not rows:
        text = f"no users file yet ({path}): the CLI acts as the OS user with admin rights"
    else:
        text = "\n".join(f"{r['username']:<24} {r['role']:<10} created {r.get('created_at') or '?'}" for r in rows)
    _emit(args, rows, text)
    return exit_codes.OK


def _short(value: Any, width: int = 60) -> str:
    text = "-" if value is None else audit.to_json(value) or "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_audit(args: argparse.Namespace) -> int:
    try:
        entries = audit.list_entries(
            _ops(args), actor=args.actor, action=args.action, target=args.target, since=args.since, limit=args.limit
        )
    except audit.AuditError as err:
        print(f"vigil: {err}", file=sys.stderr)
        return exit_codes.USAGE
    lines = [
        f"{e.at}  {e.actor:<14} {e.action:<26} {e.target:<30} {_short(e.before)} -> {_short(e.after)}" for e in entries
    ]
    _emit(args, [e.to_dict() for e in entries], "\n".join(lines) or "(no audit entries)")
    return exit_codes.OK


# ---- declarations -------------------------------------------------------------------------

USERNAME = Arg("username", "NAME")
PASSWORD_OPTIONS = (
    Opt("--password-stdin", is_flag=True, help="read the password from the first line of stdin"),
    Opt("--generate", is_flag=True, help="generate a password and print it once"),
)
ONE_PASSWORD_SOURCE = (("password_stdin", "generate"),)
USER_ERRORS = (auth.AuthError,)  # short password, unknown role or user: exit 2 with why

COMMANDS = (
    Group("users", "dashboard users and roles (admin)",
          description="dashboard users and roles: viewer < responder < approver < admin",
          epilog="The CLI acts as --user, else $VIGIL_USER, else the OS user. Until a users file exists "
                 "(<storage root>/users.yaml or $VIGIL_USERS_FILE) it acts with admin rights; after that the "
                 "user must be listed and each command needs its role (refused: exit 2)."),
    Command("users add", cmd_users_add, "users.manage",
            "add a user with a role (password prompted, from stdin or generated)",
            (USERNAME, Opt("--role", required=True, choices=auth.ROLES), *PASSWORD_OPTIONS),
            refusals=USER_ERRORS, exclusive=ONE_PASSWORD_SOURCE),
    Command("users passwd", cmd_users_passwd, "users.manage", "set a user's password (ends their sessions)",
            (USERNAME, *PASSWORD_OPTIONS), refusals=USER_ERRORS, exclusive=ONE_PASSWORD_SOURCE),
    Command("users role", cmd_users_role, "users.manage", "change a user's role",
            (USERNAME, Arg("role", "ROLE", choices=auth.ROLES)), refusals=USER_ERRORS),
    Command("users remove", cmd_users_remove, "users.manage",
            "remove a user (never the last admin); ends their sessions", (USERNAME,), refusals=USER_ERRORS),
    Command("users list", cmd_users_list, "users.manage", "list users and roles (never the hashes)",
            refusals=USER_ERRORS),
    Command("audit", cmd_audit, READ, "the audit trail: who did what, when, before and after (newest first)", (
        Opt("--actor", help="only this user's actions"),
        Opt("--action", help="an action, or a prefix ending in '.' (e.g. registry.)"),
        Opt("--target", help="only entries about this target"),
        Opt("--since", metavar="ISO", help="from this date or time (UTC), e.g. 2024-03-01"),
        Opt("--limit", type=int, default=50),
    ), refusals=USER_ERRORS),
)
