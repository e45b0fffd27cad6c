"""`vigil users add | passwd | role | remove | list`, `vigil audit`, and the CLI's role rules.

Who the CLI acts as: ``--user NAME``, else ``$VIGIL_USER``, else the OS account. Once a
users file exists (``<storage root>/users.yaml`` or ``$VIGIL_USERS_FILE``; the first
``make run`` creates it with a local admin named after the OS user), that user must be
listed there and every command is checked against its role (``COMMAND_ACTIONS``): a
refused command exits 2 with the role it needs. Before any users file exists, the CLI
acts as the OS user with admin rights, so the quick start keeps working.

The CLI trusts the OS account (whoever can run it can read the stores anyway); the
dashboard is where passwords are asked for.

``add_commands`` must be registered after the other packages' commands: it also wraps
their handlers with the role check.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Callable
from typing import Any

from core import audit, auth
from core.config import ConfigError
from core.stores import OpsStore

Handler = Callable[[argparse.Namespace], int]
EXIT_OK, EXIT_USAGE = 0, 2

# The action each command needs (core.auth.PERMISSIONS gives its lowest role). Commands
# not listed only read, which every listed user (viewer and up) may do.
COMMAND_ACTIONS: dict[str, str] = {
    "run-once": "cycle.run",
    "schedule": "cycle.run",
    "simulate": "cycle.run",
    "ingest": "cycle.run",
    "quarantine retry": "cycle.run",
    "demo": "models.train",
    "train": "models.train",
    "reproduce": "models.train",
    "retrain": "models.train",
    "drill": "cycle.run",
    "registry approve": "registry.approve",
    "registry reject": "registry.approve",
    "registry promote": "registry.promote",
    "registry rollback": "registry.promote",
    "registry revert": "registry.promote",
    "runs note": "runs.note",
    "alerts ack": "alerts.acknowledge",
    "silence add": "silences.write",
    "silence expire": "silences.write",
    "incidents open": "incidents.write",
    "incidents status": "incidents.write",
    "incidents note": "incidents.write",
    "incidents roles": "incidents.write",
    "postmortem create": "postmortems.write",
    "postmortem edit": "postmortems.write",
    "postmortem action": "postmortems.write",
    "postmortem action-set": "postmortems.write",
    "decisions recommend": "decisions.recommend",
    "decisions approve": "decisions.approve",
    "decisions reject": "decisions.approve",
    "decisions carry-out": "decisions.carry_out",
    "decisions reverse": "decisions.carry_out",
    "users add": "users.manage",
    "users passwd": "users.manage",
    "users role": "users.manage",
    "users remove": "users.manage",
    "users list": "users.manage",
}


class CliRefused(Exception):
    """A command refused before it ran (unknown acting user, missing role)."""


# ---- identity and the role check ----------------------------------------------------------


def _users_path(args: argparse.Namespace) -> Any:
    return auth.users_file(args.load_config().root)


def acting_user(args: argparse.Namespace) -> auth.User:
    """The CLI's acting user, resolved against the users file (see the module docstring)."""
    return auth.cli_identity(_users_path(args), args.user)


def _check(args: argparse.Namespace, action: str) -> None:
    try:
        user = acting_user(args)
    except ConfigError:
        if action == "read":
            return  # the handler reports the config error itself if it needs the config
        raise
    except (auth.UnknownUser, auth.UsersFileError) as err:
        raise CliRefused(str(err)) from None
    try:
        auth.require(user, action)
    except auth.PermissionDenied as err:
        raise CliRefused(str(err)) from None


def guarded(handler: Handler, action: str) -> Handler:
    """The handler, run only if the acting user may do `action` (else exit 2 with why)."""

    def run(args: argparse.Namespace) -> int:
        if not hasattr(args, "load_config"):  # called without app.cli's plumbing (tests of a package)
            return handler(args)
        try:
            _check(args, action)
        except CliRefused as err:
            print(f"vigil: refused: {err}", file=sys.stderr)
            return EXIT_USAGE
        return handler(args)

    run.__name__ = getattr(handler, "__name__", "run")
    run.vigil_action = action  # type: ignore[attr-defined]
    return run


def _leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, argparse.ArgumentParser]]:
    out: list[tuple[str, argparse.ArgumentParser]] = []
    if path:
        out.append((" ".join(path), parser))
    for action in parser._actions:  # argparse keeps no public list of subcommands
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.extend(_leaf_parsers(sub, (*path, name)))
    return out


def guard_all(subparsers: Any) -> None:
    """Wrap every command's handler with the role check (idempotent)."""
    for name, sub in subparsers.choices.items():
        for path, parser in _leaf_parsers(sub, (name,)):
            handler = parser.get_default("func")
            if handler is None or hasattr(handler, "vigil_action"):
                continue
            parser.set_defaults(func=guarded(handler, COMMAND_ACTIONS.get(path, "read")))


def first_run_admin(root: Any, username: str) -> str | None:
    """For `make run` / `vigil demo`: on the first run, create the local admin and return the
    one-time message to print on the terminal (never log it); None on later runs."""
    password = auth.ensure_admin(root, username)
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
    if args.json:
        from app.cli import emit_json

        emit_json(data)
    else:
        print(text)


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
    return EXIT_OK


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
    return EXIT_OK


def cmd_users_role(args: argparse.Namespace) -> int:
    user = auth.set_role(_users_path(args), args.username, args.role, ops=_ops(args), actor=args.user)
    _emit(args, {"username": user.username, "role": user.role}, f"{user.username} is now {user.role}")
    return EXIT_OK


def cmd_users_remove(args: argparse.Namespace) -> int:
    auth.remove_user(_users_path(args), args.username, ops=_ops(args), actor=args.user)
    _emit(args, {"username": args.username, "removed": True}, f"removed {args.username}; their sessions ended")
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    path = _users_path(args)
    rows = auth.list_users(path)
    if not rows:
        text = f"no users file yet ({path}): the CLI acts as the OS user with admin rights"
    else:
        text = "\n".join(f"{r['username']:<24} {r['role']:<10} created {r.get('created_at') or '?'}" for r in rows)
    _emit(args, rows, text)
    return EXIT_OK


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
        return EXIT_USAGE
    lines = [
        f"{e.at}  {e.actor:<14} {e.action:<26} {e.target:<30} {_short(e.before)} -> {_short(e.after)}" for e in entries
    ]
    _emit(args, [e.to_dict() for e in entries], "\n".join(lines) or "(no audit entries)")
    return EXIT_OK


def _refusing_errors(handler: Handler) -> Handler:
    """Bad input to a users command (short password, unknown role or user) -> exit 2 with why."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except auth.AuthError as err:
            print(f"vigil: {err}", file=sys.stderr)
            return EXIT_USAGE

    run.__name__ = handler.__name__
    return run


# ---- wiring -------------------------------------------------------------------------------


def _options(parser: argparse.ArgumentParser) -> None:
    """The global options, accepted after the subcommand too (defaults left to the main parser)."""
    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help="monitored-model YAML")
    parser.add_argument("--root", default=argparse.SUPPRESS, metavar="DIR", help="storage root")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    parser.add_argument("--user", default=argparse.SUPPRESS, metavar="NAME", help="who is acting")


def _add(sub: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    _options(parser)
    parser.set_defaults(func=_refusing_errors(handler))
    return parser


def _password_options(parser: argparse.ArgumentParser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    how.add_argument("--generate", action="store_true", help="generate a password and print it once")


def _needs_subcommand(_args: argparse.Namespace) -> int:
    print("vigil: `vigil users` needs a subcommand (hint: `vigil users --help`)", file=sys.stderr)
    return EXIT_USAGE


def add_commands(subparsers: Any) -> None:
    """Add `users` and `audit`, then put every registered command behind the role check."""
    users = subparsers.add_parser(
        "users", help="dashboard users and roles (admin)",
        description="dashboard users and roles: viewer < responder < approver < admin",
        epilog="The CLI acts as --user, else $VIGIL_USER, else the OS user. Until a users file exists "
               "(<storage root>/users.yaml or $VIGIL_USERS_FILE) it acts with admin rights; after that the "
               "user must be listed and each command needs its role (refused: exit 2).",
    )
    _options(users)
    users.set_defaults(func=_needs_subcommand)
    users_sub = users.add_subparsers(dest="users_command", metavar="SUBCOMMAND")
    p = _add(users_sub, "add", cmd_users_add, "add a user with a role (password prompted, from stdin or generated)")
    p.add_argument("username", metavar="NAME")
    p.add_argument("--role", required=True, choices=list(auth.ROLES))
    _password_options(p)
    p = _add(users_sub, "passwd", cmd_users_passwd, "set a user's password (ends their sessions)")
    p.add_argument("username", metavar="NAME")
    _password_options(p)
    p = _add(users_sub, "role", cmd_users_role, "change a user's role")
    p.add_argument("username", metavar="NAME")
    p.add_argument("role", choices=list(auth.ROLES))
    p = _add(users_sub, "remove", cmd_users_remove, "remove a user (never the last admin); ends their sessions")
    p.add_argument("username", metavar="NAME")
    _add(users_sub, "list", cmd_users_list, "list users and roles (never the hashes)")

    p = _add(subparsers, "audit", cmd_audit, "the audit trail: who did what, when, before and after (newest first)")
    p.add_argument("--actor", help="only this user's actions")
    p.add_argument("--action", help="an action, or a prefix ending in '.' (e.g. registry.)")
    p.add_argument("--target", help="only entries about this target")
    p.add_argument("--since", metavar="ISO", help="from this date or time (UTC), e.g. 2024-03-01")
    p.add_argument("--limit", type=int, default=50)

    guard_all(subparsers)
