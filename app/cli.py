"""The ``vigil`` command line: the command kernel.

Every command is declared once (``core.commands.Command``: path, handler, the action it
needs, its arguments and help). This module builds the parser and ``--help`` from those
declarations with Click, checks the acting user's role before a handler runs (fail closed:
a command without a declared action refuses to run), resolves the acting user (the audit
actor) once, and maps errors to the exit codes of ``core.exit_codes``.

The app's own commands are built in (``app/commands.py`` and its siblings); packages
contribute theirs through the ``vigil.commands`` entry-point group (``core.plugins``).
Global options (``--config``, ``--root``, ``--json``, ``--user``) go before or after the
command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from app import commands as app_commands
from app import exporter, registry_commands, settings, store_commands, users_cli
from core import auth, cli_session, exit_codes, identity, plugins
from core.commands import ANYONE, READ, Arg, Args, Command, Declaration, Group, Opt, Rows, UsageError
from core.config import ConfigError, VigilConfig
from core.output import emit_json, table
from core.stores import OpsStore, StoreBusy, StoreMissing, StoreUnavailable

GLOBAL_OPTIONS = ("config", "root", "json", "user")


class CommandRefused(Exception):
    """The acting user may not run this command (or the command declares no role)."""


# ---- the declarations --------------------------------------------------------------------


def builtin_declarations() -> list[Declaration]:
    """The app's own commands (the kernel's host); packages add theirs by entry point."""
    return [*app_commands.COMMANDS, *exporter.COMMANDS, *users_cli.COMMANDS, *store_commands.COMMANDS,
            *registry_commands.COMMANDS]


def declarations() -> list[Declaration]:
    """Every declared command and group: the only list of commands, roles and arguments."""
    found = builtin_declarations()
    for _name, contributed in plugins.command_sets():
        found.extend(contributed)
    seen: dict[str, Declaration] = {}
    for decl in found:
        if decl.path in seen:
            raise RuntimeError(f"`vigil {decl.path}` is declared twice (hint: each command is declared once)")
        seen[decl.path] = decl
    return found


def runnable(decls: Sequence[Declaration] | None = None) -> dict[str, Command]:
    """Path -> Command of every runnable command."""
    return {d.path: d for d in (decls if decls is not None else declarations()) if isinstance(d, Command)}


# ---- authorisation -------------------------------------------------------------------------


def authorise(command: Command, args: Args) -> None:
    """Raise CommandRefused unless the acting user's role may run `command` (fail closed)."""
    if command.action is None:
        raise CommandRefused(
            f"`vigil {command.path}` declares no role, so it does not run (hint: give its Command an action: "
            f"core.commands.READ or a key of core.auth.PERMISSIONS)"
        )
    if command.action == ANYONE:
        return  # `vigil login` / `logout`: the handler proves or ends an identity itself
    try:
        cfg = args.load_config()
    except ConfigError:
        if command.action == READ:
            return  # the handler reports the config error itself if it needs the config
        raise
    try:
        # Bootstrap (no users yet), a $VIGIL_TOKEN, or a session from `vigil login`; a bare
        # --user / $VIGIL_USER only selects among signed-in identities (core/cli_session.py).
        found = cli_session.resolve(cfg.root, lambda: OpsStore(cfg.ops_path), getattr(args, "user_requested", None))
    except auth.AuthError as err:
        raise CommandRefused(str(err)) from None
    args.user = found.user.username  # the audit actor is the proven identity
    args.identity = found
    user = found.user
    try:
        auth.require(user, command.action)
    except auth.PermissionDenied as err:
        raise CommandRefused(str(err)) from None


# ---- running a handler -----------------------------------------------------------------------


def _config_loader(args: Args) -> Callable[[], VigilConfig]:
    cache: dict[str, VigilConfig] = {}

    def load_config() -> VigilConfig:
        if "cfg" not in cache:
            cache["cfg"] = settings.load(args.config, args.root)
        return cache["cfg"]

    return load_config


def make_args(values: dict[str, Any], flags: dict[str, Any], extra: dict[str, Any] | None = None) -> Args:
    """The handler's args: declared values by dest, the global options, the acting user."""
    args = Args(**values)
    args.config = flags.get("config")
    args.root = flags.get("root")
    args.json = bool(flags.get("json"))
    args.user = identity.acting_username(flags.get("user"))
    # What was asked for explicitly (None: no --user, no $VIGIL_USER); authorise resolves it.
    args.user_requested = flags.get("user") or os.environ.get(identity.USER_ENV) or None
    args.load_config = _config_loader(args)  # type: ignore[method-assign]
    for key, value in (extra or {}).items():
        setattr(args, key, value)
    return args


def run_command(command: Command, args: Args) -> int:
    """Check the role, run the handler, map errors to exit codes (messages on stderr)."""
    try:
        for group in command.exclusive:
            given = [g for g in group if getattr(args, g, None)]
            if len(given) > 1:
                shown = " and ".join("--" + g.replace("_", "-") for g in given)
                raise UsageError(f"{shown} cannot be given together (hint: `vigil {command.path} --help`)")
        authorise(command, args)
        return render(command, args, command.handler(args))
    except CommandRefused as err:
        print(f"vigil: refused: {err}", file=sys.stderr)
        return exit_codes.USAGE
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return exit_codes.USAGE
    except UsageError as err:
        print(f"vigil: {err}", file=sys.stderr)
        return exit_codes.USAGE
    except StoreMissing as err:
        print(f"vigil: {err}", file=sys.stderr)
        return exit_codes.STORE_UNAVAILABLE
    except StoreUnavailable as err:  # locked past the wait, corrupt, disk full: the message says which
        text = str(err)
        if isinstance(err, StoreBusy) and "hint:" not in text:
            text += " (hint: a cycle is writing; retry in a moment)"
        print(f"vigil: {text}", file=sys.stderr)
        return exit_codes.STORE_UNAVAILABLE
    except KeyboardInterrupt:
        return exit_codes.OK
    except BrokenPipeError:  # `vigil checks list | head`
        sys.stderr.close()
        return exit_codes.OK
    except Exception as err:
        if command.refusals and isinstance(err, command.refusals):
            text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            print(f"vigil: {text}", file=sys.stderr)
            return exit_codes.USAGE
        raise


def render(command: Command, args: Args, result: int | Rows | None) -> int:
    """Print a Rows result as the command's declared table (or JSON); return the exit code."""
    if not isinstance(result, Rows):
        return int(result or 0)
    if args.json:
        emit_json(result.rows if result.data is None else result.data)
    elif command.table is None:
        raise RuntimeError(f"`vigil {command.path}` returned rows but declares no table")
    else:
        print(table(result.rows, command.table.columns, command.table.empty))
    return result.code


# ---- the Click tree --------------------------------------------------------------------------


class _Formatter(click.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "usage: " if prefix is None else prefix)


class _Context(click.Context):
    formatter_class = _Formatter


class _Choice(click.Choice):  # type: ignore[type-arg]
    """A choice that also accepts hyphens for underscores (`unit-change` for `unit_change`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value not in self.choices:
            for choice in self.choices:
                if isinstance(choice, str) and value.replace("-", "_") == choice.replace("-", "_"):
                    return choice
        return super().convert(value, param, ctx)


def _click_type(param: Arg | Opt) -> Any:
    return _Choice(list(param.choices)) if param.choices is not None else param.type


def _click_params(command: Command | None) -> list[click.Parameter]:
    params: list[click.Parameter] = []
    declared_flags = set()
    for p in command.params if command else ():
        if isinstance(p, Arg):
            params.append(click.Argument([p.dest], required=p.required, type=_click_type(p), metavar=p.shown))
        else:
            declared_flags.add(p.flag)
            if p.is_flag:
                params.append(click.Option([p.flag, p.name], is_flag=True, default=False, help=p.help))
            else:
                params.append(click.Option(
                    [p.flag, p.name], type=_click_type(p), default=p.default, metavar=p.metavar, help=p.help,
                    multiple=p.multiple, required=p.required, show_default=p.default not in (None, False, ()),
                ))
    for flag, name, kwargs in _GLOBAL_FLAGS:
        if flag not in declared_flags:
            params.append(click.Option([flag, f"global_{name}"], **kwargs))
    return params


_GLOBAL_FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    ("--config", "config", {"metavar": "PATH", "default": None,
                            "help": f"monitored-model YAML (default: ${settings.CONFIG_ENV} or {settings.DEFAULT_CONFIG})"}),
    ("--root", "root", {"metavar": "DIR", "default": None,
                        "help": f"storage root (default: ${settings.ROOT_ENV} or storage.root of the config)"}),
    ("--json", "json", {"is_flag": True, "default": False, "help": "machine-readable output"}),
    ("--user", "user", {"metavar": "NAME", "default": None,
                        "help": f"who is acting (default: ${identity.USER_ENV} or the OS user)"}),
]


def _flags(ctx: click.Context) -> dict[str, Any]:
    """The global options, the innermost given value winning (`--json` anywhere counts)."""
    out: dict[str, Any] = {"json": False}
    node: click.Context | None = ctx
    while node is not None:
        for name in GLOBAL_OPTIONS:
            value = node.params.get(f"global_{name}")
            if name == "json":
                out["json"] = out["json"] or bool(value)
            elif out.get(name) is None and value is not None:
                out[name] = value
        node = node.parent
    return out


def _values(command: Command, params: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in command.params:
        name = p.dest if isinstance(p, Arg) else p.name
        value = params.get(name)
        if isinstance(p, Opt) and p.multiple:
            value = list(value) if value else None  # as argparse's append: None when not given
        values[name] = value
    return values


def _help_text(help_text: str, description: str | None, command: Command | None) -> str:
    text = description or help_text
    args = [p for p in (command.params if command else ()) if isinstance(p, Arg) and p.help]
    if args:
        width = max(len(a.shown) for a in args)
        text += "\n\n\b\nArguments:\n" + "\n".join(f"  {a.shown.ljust(width)}  {a.help}" for a in args)
    return text


@dataclass
class _Node:
    words: tuple[str, ...]
    group: Group | None = None
    command: Command | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(decls: Sequence[Declaration]) -> _Node:
    root = _Node(())
    for decl in sorted(decls, key=lambda d: len(d.words)):
        node = root
        for i, word in enumerate(decl.words):
            node = node.children.setdefault(word, _Node(decl.words[: i + 1]))
        if isinstance(decl, Group):
            node.group = decl
        else:
            node.command = decl
    return root


Runner = Callable[[Command, Args], int]


def _build(node: _Node, extra: dict[str, Any], ran: list[str], runner: Runner) -> click.Command:
    command, group = node.command, node.group
    path = " ".join(node.words)
    help_text = (command.help if command else group.help if group else "")
    description = command.description if command else (group.description if group else None)
    epilog = command.epilog if command else (group.epilog if group else None)

    def callback(**params: Any) -> int:
        ctx = click.get_current_context()
        if command is None or (node.children and ctx.invoked_subcommand is not None):
            if ctx.invoked_subcommand is not None:
                return exit_codes.OK
            ran.append(path)
            print(f"vigil: `vigil {path}` needs a subcommand (hint: `vigil {path} --help`)", file=sys.stderr)
            return exit_codes.USAGE
        ran.append(path)
        return runner(command, make_args(_values(command, params), _flags(ctx), extra))

    settings_ = {"help_option_names": ["-h", "--help"]}
    kwargs: dict[str, Any] = {
        "name": node.words[-1], "callback": callback, "params": _click_params(command), "short_help": help_text,
        "help": _help_text(help_text, description, command), "epilog": epilog, "context_settings": settings_,
    }
    if not node.children:
        cmd = click.Command(**kwargs)
        cmd.context_class = _Context
        return cmd
    grp = click.Group(invoke_without_command=True, **kwargs)
    grp.context_class = _Context
    for child in node.children.values():
        grp.add_command(_build(child, extra, ran, runner))
    return grp


def build_cli(
    decls: Sequence[Declaration] | None = None,
    extra: dict[str, Any] | None = None,
    ran: list[str] | None = None,
    runner: Runner = run_command,
) -> click.Group:
    """The `vigil` Click group from the declarations (`extra`: attributes put on every args;
    `ran` collects the path of the command that ran, empty after `--help`; `runner` runs it)."""
    tree = _tree(decls if decls is not None else declarations())
    extra = extra or {}
    ran = ran if ran is not None else []

    def root_callback(**_params: Any) -> int:
        ctx = click.get_current_context()
        if ctx.invoked_subcommand is None:
            ran.append("")
            click.echo(ctx.get_help())
            return exit_codes.USAGE
        return exit_codes.OK

    root = click.Group(
        name="vigil", callback=root_callback, invoke_without_command=True, params=_click_params(None),
        help="Vigil: monitoring and incident response for a production ML model.",
        epilog=f"Exit codes: {exit_codes.summary()}.", context_settings={"help_option_names": ["-h", "--help"]},
    )
    root.context_class = _Context
    for child in tree.children.values():
        root.add_command(_build(child, extra, ran, runner))
    return root


def parse(argv: Sequence[str], decls: Sequence[Declaration] | None = None) -> tuple[Command, Args]:
    """The command `vigil ARGV` would run and its args, without running it (click.UsageError if bad)."""
    found: list[tuple[Command, Args]] = []

    def record(command: Command, args: Args) -> int:
        found.append((command, args))
        return exit_codes.OK

    build_cli(decls, runner=record).main(args=list(argv), prog_name="vigil", standalone_mode=False)
    if not found:
        raise click.UsageError(f"`vigil {' '.join(argv)}` names no runnable command")
    return found[0]


def main(argv: Sequence[str] | None = None, *, extra: dict[str, Any] | None = None) -> int:
    """Run `vigil ARGV`; returns the exit code. Usage errors and `--help` exit like argparse's
    (SystemExit 2 / 0) so a shell sees the same codes either way."""
    ran: list[str] = []
    cli = build_cli(extra=extra, ran=ran)
    argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = cli.main(args=argv, prog_name="vigil", standalone_mode=False)
    except click.ClickException as err:  # parse errors: unknown command, bad value, missing argument
        err.show()
        raise SystemExit(exit_codes.USAGE) from None
    except click.Abort:
        return exit_codes.OK
    if not ran:  # --help printed the help and nothing ran
        raise SystemExit(result if isinstance(result, int) else exit_codes.OK)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
