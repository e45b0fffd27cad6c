"""Command declarations: the one list of `vigil` commands, their arguments, roles and help.

A package declares its commands as data and exports them as a sequence (``COMMANDS``);
`pyproject.toml` names that sequence under the ``vigil.commands`` entry-point group. The
app's command kernel (``app/cli.py``) builds the parser and ``--help`` from these
declarations, checks the acting user's role before a handler runs, supplies the acting user
(the audit actor) and maps errors to exit codes (``core/exit_codes.py``); the README's
command table is checked against them by a test.

A handler is ``handler(args) -> int`` (an exit code), or ``-> Rows`` when its Command
declares a ``table``: the kernel then prints the rows as that table, or as JSON under
``--json``. ``args`` carries the declared
arguments by ``dest`` plus ``args.json``, ``args.user`` (the acting user, resolved once),
``args.config`` / ``args.root`` (the flags as given) and ``args.load_config()``.

Roles fail closed: a command whose ``action`` is None refuses to run. ``READ`` is the
action every listed user (viewer and up) may do; any other action must be a key of
``core.auth.PERMISSIONS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from core.config import VigilConfig

READ = "read"
# Runs without an identity: signing in itself (`vigil login`, `vigil logout`), where the
# password proves who it is. Nothing else. (In core.auth.PERMISSIONS as a viewer's action.)
ANYONE = "auth.sign_in"


class Args(argparse.Namespace):
    """The parsed arguments a handler receives (an attribute bag; ``args.NAME`` by dest).

    A Namespace so handlers written as ``(args: argparse.Namespace) -> int`` fit unchanged.
    """

    json: bool
    user: str
    config: str | None
    root: str | None

    def load_config(self) -> VigilConfig:  # replaced by the kernel with a cached loader
        raise RuntimeError("args.load_config() is only available when the command kernel runs the handler")


@dataclass(frozen=True)
class Table:
    """A command's human output as a table: its columns (keys of each row) and the empty text."""

    columns: tuple[str, ...]
    empty: str = "(none)"


@dataclass
class Rows:
    """What a handler of a command declared with a ``table`` returns: the kernel prints ``data``
    (default: the rows) as JSON under ``--json``, else the rows as the declared table."""

    rows: list[dict[str, Any]]
    data: Any = None
    code: int = 0


Handler = Callable[[Args], "int | Rows"]


class UsageError(Exception):
    """Bad arguments or missing inputs: exit code 2 with the message (which carries a hint)."""


@dataclass(frozen=True)
class Arg:
    """A positional argument. ``choices`` also accept hyphens for underscores (``unit-change``)."""

    dest: str
    metavar: str | None = None
    help: str = ""
    type: type = str
    choices: Sequence[str] | None = None
    required: bool = True

    @property
    def shown(self) -> str:
        return self.metavar or self.dest.upper()


@dataclass(frozen=True)
class Opt:
    """An option (``--name VALUE``, a ``flag``, or ``multiple`` for a repeatable option)."""

    flag: str
    dest: str | None = None
    help: str = ""
    type: type = str
    default: Any = None
    metavar: str | None = None
    choices: Sequence[str] | None = None
    multiple: bool = False
    is_flag: bool = False
    required: bool = False

    @property
    def name(self) -> str:
        return self.dest or self.flag.lstrip("-").replace("-", "_")


Param = Arg | Opt


@dataclass(frozen=True)
class Command:
    """One runnable command. ``path`` is its words (``"alerts ack"``); ``action`` the permission
    it needs (``READ`` or a key of ``core.auth.PERMISSIONS``); None refuses to run."""

    path: str
    handler: Handler
    action: str | None
    help: str
    params: tuple[Param, ...] = ()
    description: str | None = None
    epilog: str | None = None
    # Errors the handler raises for refused or bad input: printed as `vigil: <message>`, exit 2.
    refusals: tuple[type[BaseException], ...] = ()
    exclusive: tuple[tuple[str, ...], ...] = field(default=())  # dests that may not be given together
    # The human output as a table (the handler returns Rows); None: the handler prints its own
    # text, and its JSON under --json through core.output.emit.
    table: Table | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.path.split())

    def usage(self) -> str:
        """`alerts ack FINGERPRINT` with the required arguments and options (the README's form)."""
        parts = [self.path]
        for p in self.params:
            if isinstance(p, Arg):
                parts.append(p.shown if p.required else f"[{p.shown}]")
            elif p.required:
                parts.append(f"{p.flag} {p.metavar or p.name.upper()}")
        return " ".join(parts)


@dataclass(frozen=True)
class Group:
    """A command that only holds subcommands (``alerts``); its help line for ``vigil --help``."""

    path: str
    help: str
    description: str | None = None
    epilog: str | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.path.split())


Declaration = Command | Group


@runtime_checkable
class CommandSet(Protocol):
    """What a `vigil.commands` entry point names: a sequence of Command and Group declarations."""

    def __iter__(self) -> Any: ...

    def __len__(self) -> int: ...
