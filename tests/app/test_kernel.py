"""The command kernel: declarations are the only list of commands, roles fail closed, the
README table and every hint naming a `vigil` command agree with the declarations, extension
points load through core.plugins with a clear config error."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pytest

from app import command_docs
from app.cli import build_cli, declarations, main, make_args, parse, run_command, runnable
from app.commands import report_path
from core import exit_codes, plugins
from core.commands import READ, Arg, Args, Command, Group, Opt, Rows, Table
from core.config import ConfigError
from core.identity import FALLBACK_USER, acting_username
from core.stores import StoreBusy, StoreMissing

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "core", "checks", "incidents", "profilers", "baseline_model")
# `vigil` followed by words and options, in backticks or not (hints, docstrings, messages)
HINT = re.compile(r"(?:^|[`\s(:'\"])vigil((?:\s+-{0,2}[a-z][a-z0-9_.-]*)+)")


def _run(decls: list[Command | Group], argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    ran: list[str] = []
    code = build_cli(decls, ran=ran).main(args=argv, prog_name="vigil", standalone_mode=False)
    out, err = capsys.readouterr()
    return int(code), out, err


# ---- roles fail closed -----------------------------------------------------------------------


def test_a_command_declared_without_a_role_refuses_to_run(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[Args] = []

    def handler(args: Args) -> int:
        calls.append(args)
        return 0

    decls: list[Command | Group] = [Command("sneaky", handler, None, "declared without a role")]
    code, _, err = _run(decls, ["sneaky"], capsys)
    assert code == exit_codes.USAGE
    assert calls == []
    assert "`vigil sneaky` declares no role, so it does not run" in err


def test_a_read_command_runs_and_gets_the_acting_user_and_global_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VIGIL_USER", raising=False)
    seen: list[Args] = []

    def handler(args: Args) -> int:
        seen.append(args)
        return 0

    decls: list[Command | Group] = [
        Group("things", "things"),
        Command("things show", handler, READ, "show", (Arg("name", "NAME"), Opt("--tag", multiple=True))),
    ]
    missing = str(tmp_path / "nope.yaml")  # a read runs without a readable config (the handler decides)
    code, _, _ = _run(decls, ["--user", "ana", "things", "show", "x", "--json", "--config", missing, "--tag", "a"],
                      capsys)
    assert code == 0
    (args,) = seen
    assert (args.name, args.tag, args.json, args.user, args.config) == ("x", ["a"], True, "ana", missing)
    code, _, err = _run(decls, ["things"], capsys)
    assert code == 2 and "`vigil things` needs a subcommand (hint: `vigil things --help`)" in err


def test_a_declared_table_is_the_human_output_and_data_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(_args: Args) -> Rows:
        return Rows([{"name": "a", "n": 1}, {"name": "bb", "n": None}], data={"all": 2}, code=exit_codes.FAILED)

    decls: list[Command | Group] = [Command("things", handler, READ, "things", table=Table(("name", "n")))]
    code, out, _ = _run(decls, ["things"], capsys)
    assert code == exit_codes.FAILED
    assert out.splitlines() == ["name  n", "a     1", "bb     "]
    code, out, _ = _run(decls, ["things", "--json"], capsys)
    assert code == exit_codes.FAILED and json.loads(out) == {"all": 2}
    empty: list[Command | Group] = [Command("things", lambda _a: Rows([]), READ, "things", table=Table(("name",), "no things"))]
    assert _run(empty, ["things"], capsys)[1] == "no things\n"


def test_every_declared_command_has_a_known_action() -> None:
    from core import auth

    for command in runnable().values():
        assert command.action is not None, command.path
        auth.role_needed(command.action)


def test_each_command_is_declared_once() -> None:
    paths = [d.path for d in declarations()]
    assert len(paths) == len(set(paths))


# ---- the acting user and exit codes --------------------------------------------------------------


def test_one_acting_user_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_USER", "env-user")
    assert acting_username("flag-user") == "flag-user"
    assert acting_username() == "env-user"
    monkeypatch.delenv("VIGIL_USER")

    def no_passwd_entry() -> str:
        raise KeyError("uid not found")

    monkeypatch.setattr("getpass.getuser", no_passwd_entry)
    assert acting_username() == FALLBACK_USER
    from core import auth

    assert auth.local_username() == FALLBACK_USER  # the first-run admin gets the same name


@pytest.mark.parametrize(("error", "code", "text"), [
    (StoreMissing("warehouse.duckdb: no warehouse yet"), exit_codes.STORE_UNAVAILABLE, "no warehouse yet"),
    (StoreBusy("warehouse.duckdb is locked"), exit_codes.STORE_UNAVAILABLE, "retry in a moment"),
    (ConfigError("monitor.yaml: model: missing"), exit_codes.USAGE, "monitor.yaml: model: missing"),
    (ValueError("bad input (hint: fix it)"), exit_codes.USAGE, "vigil: bad input (hint: fix it)"),
])
def test_errors_map_to_exit_codes(error: Exception, code: int, text: str, capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    def handler(_args: Args) -> int:
        raise error

    command = Command("x", handler, READ, "x", refusals=(ValueError,))
    assert run_command(command, _args(tmp_path)) == code
    assert text in capsys.readouterr().err


def test_an_undeclared_error_is_not_swallowed(tmp_path: Path) -> None:
    def handler(_args: Args) -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run_command(Command("x", handler, READ, "x"), _args(tmp_path))


def _args(tmp_path: Path) -> Args:
    """A read command's args with no config to find (so no users file to consult)."""
    return make_args({}, {"user": "ana", "config": str(tmp_path / "none.yaml")})


def test_missing_config_names_the_flag_and_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # outside the repo: the default path does not exist
    assert main(["status"]) == exit_codes.USAGE
    err = capsys.readouterr().err
    assert "baseline_model/configs/monitor.yaml: file not found" in err
    assert "--config PATH" in err and "$VIGIL_CONFIG" in err


# ---- the README and every hint agree with the declarations -------------------------------------


def test_readme_command_table_matches_the_declarations() -> None:
    table = command_docs.readme_table((REPO / "README.md").read_text())
    assert table is not None, "README.md lost its command-table markers"
    assert table == command_docs.command_table(declarations()), (
        "README.md's command table is out of step with the declarations (hint: `python -m app.command_docs`)"
    )


def test_the_table_shows_required_arguments() -> None:
    table = command_docs.command_table(declarations())
    for usage in ("decisions recommend INCIDENT", "postmortem export INCIDENT", "decisions list [INCIDENT]",
                  "decisions show DECISION", "decisions reject DECISION", "registry promote VERSION --reason REASON"):
        assert f"`vigil {usage}`" in table


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


GLOBAL_FLAGS = {"--config", "--root", "--json", "--user", "--help"}


def _hint_problem(words: list[str], commands: dict[tuple[str, ...], Command | Group]) -> str | None:
    """Why `vigil WORDS` is not a real command line, or None: global options first, then a
    declared command or group, then only options that command declares."""
    while words and words[0] in GLOBAL_FLAGS:
        words = words[1:] if words[0] == "--json" else words[2:]
    if not words:
        return None
    n = next((n for n in range(len(words), 0, -1) if tuple(words[:n]) in commands), 0)
    if n == 0:
        return "no such command"
    decl = commands[tuple(words[:n])]
    declared = {p.flag for p in decl.params if isinstance(p, Opt)} if isinstance(decl, Command) else set()
    unknown = [w for w in words[n:] if w.startswith("--") and w not in declared | GLOBAL_FLAGS]
    return f"no option {unknown[0]}" if unknown else None


def test_every_hint_in_the_code_names_a_real_command() -> None:
    commands = {d.words: d for d in declarations()}
    bad = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for text in _strings(path):
                for m in HINT.finditer(text):
                    words = m.group(1).split()
                    problem = _hint_problem(words, commands)
                    if problem:
                        bad.append(f"{path.relative_to(REPO)}: `vigil {' '.join(words)}`: {problem}")
    assert bad == []


def test_a_wrong_hint_is_caught() -> None:
    commands = {d.words: d for d in declarations()}
    assert _hint_problem(["data", "batches"], commands) == "no such command"
    assert _hint_problem(["quarantine", "list", "--every"], commands) == "no option --every"
    assert _hint_problem(["--config", "m.yaml", "retrain", "--window-days"], commands) is None


def test_hints_are_found_at_all() -> None:
    found = [m.group(0) for p in sorted((REPO / "app").rglob("*.py")) for t in _strings(p) for m in HINT.finditer(t)]
    assert "`vigil run-once" in found or " vigil run-once" in " ".join(found)


# ---- drills, reports ------------------------------------------------------------------------------


def test_drill_types_accept_hyphens() -> None:
    command, args = parse(["drill", "unit-change", "--column", "income"])
    assert command.path == "drill" and args.kind == "unit_change"
    assert parse(["drill", "unit_change"])[1].kind == "unit_change"
    with pytest.raises(Exception, match="unit-chaos"):
        parse(["drill", "unit-chaos"])


def test_report_goes_under_the_storage_root_unless_out(tmp_path: Path) -> None:
    batch = datetime(2024, 3, 1)
    assert report_path(tmp_path, batch, None) == tmp_path / "reports" / "vigil-report-2024-03-01.html"
    assert report_path(tmp_path, batch, "r.html") == Path("r.html")


# ---- the example model arrives by entry point; app imports none of it ----------------------------


def test_the_example_model_contributes_its_commands_by_entry_point() -> None:
    specs = plugins.command_specs()
    assert specs["baseline_model"] == "baseline_model.cli:COMMANDS"
    paths = {d.path for _name, decls in plugins.command_sets() for d in decls}
    assert {"train", "simulate", "demo", "runs list", "lineage"} <= paths
    # The registry commands work on any model's registry (embedded or MLflow): the app declares them.
    assert not {p for p in paths if p.startswith("registry")}
    from app.cli import builtin_declarations

    assert {"registry promote", "registry rollback", "registry list"} <= {d.path for d in builtin_declarations()}


def test_importing_the_cli_imports_no_example_model_code() -> None:
    code = "import sys, app.cli, app.actions, app.demo; print(sorted(m for m in sys.modules if m.startswith('baseline_model')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


# ---- core.plugins.load ----------------------------------------------------------------------------


class _Evaluates(Protocol):
    def evaluate(self) -> float: ...


def test_plugins_load_checks_the_protocol_and_names_the_key() -> None:
    assert plugins.load("core.identity:acting_username", callable, key="model.feature_builder") is acting_username
    with pytest.raises(ConfigError, match=r"model.feature_builder: 'nodots' is not of the form module:Name"):
        plugins.load("nodots", callable, key="model.feature_builder")
    with pytest.raises(ConfigError, match=r"model.feature_builder: 'no_such_module_xyz:f': cannot import"):
        plugins.load("no_such_module_xyz:f", callable, key="model.feature_builder")
    with pytest.raises(ConfigError, match=r"model.feature_builder: 'core.identity:nope': .* has no attribute 'nope'"):
        plugins.load("core.identity:nope", callable, key="model.feature_builder")
    with pytest.raises(ConfigError, match=r"model.feature_builder: 'core.identity:USER_ENV' is a str, which is not callable"):
        plugins.load("core.identity:USER_ENV", callable, key="model.feature_builder")
    with pytest.raises(ConfigError, match=r"model.adapter: 'core.identity:acting_username' does not implement _Evaluates"):
        plugins.load("core.identity:acting_username", _Evaluates, key="model.adapter")


# No other module imports by name (app/queries.py composes the owners' query modules directly).
IMPORTS_BY_NAME_PENDING: set[str] = set()


def test_only_core_plugins_imports_code_by_name() -> None:
    found = set()
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                    if name in ("import_module", "__import__"):
                        found.add(str(path.relative_to(REPO)))
    assert "core/plugins.py" in found
    assert found - {"core/plugins.py"} <= IMPORTS_BY_NAME_PENDING
