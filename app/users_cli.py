"""`vigil login | logout | whoami`, `vigil users add | passwd | role | remove | list | token |
token-revoke`, `vigil audit` and `vigil audit verify`.

Who the CLI acts as (``core.cli_session``): while the storage root has no users, anyone
running it acts with admin rights (the quick start). Once users exist, only a proven
identity: a session from ``vigil login`` (password, rate-limited, expiring, kept under the
user's home) or a token in ``$VIGIL_TOKEN`` (``vigil users token`` for automation).
``--user NAME`` / ``$VIGIL_USER`` only choose among the identities signed in; the command
kernel (``app/cli.py``) then checks the action each declaration names (refused: exit 2).
The first ``make run`` creates the admin and signs the CLI of that OS account in as it.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from typing import Any

from core import audit, auth, cli_session, exit_codes
from core.commands import ANYONE, READ, Arg, Command, Group, Opt
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
    signed_in = ""
    if ops is not None:  # the account that ran `make run` keeps a CLI session as the admin
        cli_session.login(root, ops, name, password)
        signed_in = f"\n  this account's CLI is signed in as {name} for {cli_session.CLI_SESSION_TTL.total_seconds() / 3600:.0f} h"
    return (
        f"Vigil dashboard sign-in (shown once, not stored): user {name}  password {password}\n"
        f"  users file: {path} (hashes only); change it with `vigil users passwd {name}`{signed_in}"
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
    auth.pin_users_file(args.load_config().root, path)  # this root's users file, from now on
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


def _password_for_login(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise auth.AuthError("no password on stdin (hint: `printf '%s\\n' \"$PW\" | vigil login NAME --password-stdin`)")
        return line
    if not sys.stdin.isatty():
        raise auth.AuthError("no terminal to ask for a password (hint: --password-stdin)")
    return getpass.getpass(f"password for {args.username}: ")


def cmd_login(args: argparse.Namespace) -> int:
    cfg = args.load_config()
    user = cli_session.login(cfg.root, OpsStore(cfg.ops_path), args.username, _password_for_login(args))
    hours = cli_session.CLI_SESSION_TTL.total_seconds() / 3600
    _emit(args, {"username": user.username, "role": user.role, "expires_in_hours": hours},
          f"signed in as {user.username} ({user.role}) for storage root {cfg.root}; the session expires in {hours:.0f} h")
    return exit_codes.OK


def cmd_logout(args: argparse.Namespace) -> int:
    cfg = args.load_config()
    ended = cli_session.logout(cfg.root, OpsStore(cfg.ops_path), args.username)
    _emit(args, {"signed_out": ended}, f"signed out: {', '.join(ended)}" if ended else "nobody was signed in")
    return exit_codes.OK


def cmd_whoami(args: argparse.Namespace) -> int:
    found = getattr(args, "identity", None)
    data = found.to_dict() if found else {"username": args.user, "role": None, "how": "unchecked"}
    _emit(args, data, f"{data['username']} ({data['role']}, {data['how']})")
    return exit_codes.OK


def cmd_users_token(args: argparse.Namespace) -> int:
    from core.config import parse_duration

    cfg = args.load_config()
    ttl = parse_duration(args.ttl) if args.ttl else cli_session.SERVICE_TOKEN_TTL
    token, expires = cli_session.create_service_token(cfg.root, OpsStore(cfg.ops_path), args.username, args.role,
                                                      actor=args.user, ttl=ttl)
    _emit(args, {"name": args.username, "role": args.role, "expires_at": expires, "token": token},
          f"service token for {args.username} ({args.role}), expires {expires} (shown once; set it as "
          f"${cli_session.TOKEN_ENV} where the automation runs):\n{token}")
    return exit_codes.OK


def cmd_users_token_revoke(args: argparse.Namespace) -> int:
    count = cli_session.revoke_service_tokens(_ops(args), args.username, actor=args.user)
    _emit(args, {"name": args.username, "revoked": count}, f"revoked {count} token(s) of {args.username}")
    return exit_codes.OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    report = audit.verify(_ops(args))
    _emit(args, report.to_dict(), report.text())
    return exit_codes.OK if report.ok else exit_codes.FAILED


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
          epilog="Until the storage root has users, the CLI acts with admin rights. After that it acts only as "
                 "a signed-in user (`vigil login NAME`) or the identity of $VIGIL_TOKEN (`vigil users token`); "
                 "--user NAME chooses among signed-in identities and each command needs its role (refused: exit 2)."),
    Command("login", cmd_login, ANYONE, "sign the CLI in as a user (password; rate-limited; the session expires)",
            (USERNAME, Opt("--password-stdin", is_flag=True, help="read the password from the first line of stdin")),
            refusals=USER_ERRORS),
    Command("logout", cmd_logout, ANYONE, "end this account's CLI session(s) for the storage root",
            (Arg("username", "NAME", required=False),), refusals=USER_ERRORS),
    Command("whoami", cmd_whoami, READ, "the identity the CLI acts as, its role and how it was proven"),
    Command("users token", cmd_users_token, "users.manage",
            "issue a service token for automation (shown once; use it as $VIGIL_TOKEN)",
            (USERNAME, Opt("--role", required=True, choices=auth.ROLES),
             Opt("--ttl", metavar="DURATION", help="lifetime, e.g. 30d (default 90d)")), refusals=USER_ERRORS),
    Command("users token-revoke", cmd_users_token_revoke, "users.manage", "revoke every token of a service",
            (USERNAME,), refusals=USER_ERRORS),
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
    Command("audit verify", cmd_audit_verify, READ,
            "recompute the audit trail's hash chain; name the first broken link (exit 1 if broken)"),
)
