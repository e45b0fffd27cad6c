"""Extension points named in the config or in package metadata: the one place that imports by name.

    adapter_cls = load("baseline_model.adapter:LoanModelAdapter", ModelAdapter, key="model.adapter")
    build = load(cfg.model.feature_builder, callable, key="model.feature_builder")

With a Protocol (or class), the attribute must offer every member the protocol declares (a
class or an instance); with a predicate such as ``callable``, the predicate must hold.
Anything else is a ConfigError naming the key, the spec and a hint. ``command_sets()``
loads the commands packages contribute through the ``vigil.commands`` entry-point group.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from core.commands import Command, Declaration, Group
from core.config import ConfigError

COMMANDS_GROUP = "vigil.commands"
SIMULATORS_GROUP = "vigil.simulators"
_DIST = "vigil"
# A source checkout (an editable install, or running with the checkout on PYTHONPATH): its
# pyproject.toml is the truth, since an editable install's metadata is written at install time.
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

_SPEC = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")


def protocol_members(protocol: type) -> list[str]:
    """Methods a protocol declares, without dunders."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        names |= {n for n, v in vars(klass).items() if not n.startswith("_") and callable(v)}
    return sorted(names)


def load(spec: str, protocol: type | Callable[[Any], bool] | None = None, *, key: str = "plugin") -> Any:
    """Import `module:attribute` and check it offers the protocol's members (or passes the predicate)."""
    m = _SPEC.match(spec or "")
    if m is None:
        raise ConfigError(f"{key}: {spec!r} is not of the form module:Name (hint: e.g. core.sklearn_adapter:SklearnAdapter)")
    module_name, attr = m.groups()
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"{key}: {spec!r}: cannot import module {module_name!r}: {err} "
            "(hint: check the spelling, and that the package is installed or on PYTHONPATH)"
        ) from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            f"{key}: {spec!r}: module {module_name!r} has no attribute {attr!r} "
            "(hint: check the name after ':'; the module has no function or class of that name)"
        ) from None
    if protocol is not None and not isinstance(protocol, type):
        if not protocol(obj):
            wanted = getattr(protocol, "__name__", "the extension point")
            raise ConfigError(f"{key}: {spec!r} is a {type(obj).__name__}, which is not {wanted} "
                              f"(hint: {key} must name something {wanted})")
    elif protocol is not None:
        missing = [n for n in protocol_members(protocol) if not hasattr(obj, n)]
        if missing:
            raise ConfigError(
                f"{key}: {spec!r} does not implement {protocol.__name__}: missing {', '.join(missing)} "
                f"(hint: see CONTRACTS.md for what a {protocol.__name__} provides)"
            )
    return obj


def entry_point_specs(group: str) -> dict[str, str]:
    """Entry-point name -> 'module:attribute' of every installed entry point in ``group``."""
    checkout = _PYPROJECT.exists()
    specs: dict[str, str] = {}
    for ep in metadata.entry_points(group=group):
        if checkout and ep.dist is not None and ep.dist.name == _DIST:
            continue  # Vigil's own, read from the checkout below (installed metadata may be stale)
        specs[ep.name] = ep.value
    if checkout:
        project = tomllib.loads(_PYPROJECT.read_text()).get("project", {})
        if project.get("name") == _DIST:
            specs.update(project.get("entry-points", {}).get(group, {}))
    return specs


def command_specs() -> dict[str, str]:
    """Entry-point name -> 'module:attribute' of every installed `vigil.commands` set."""
    return entry_point_specs(COMMANDS_GROUP)


def simulators() -> dict[str, Callable[..., Any]]:
    """Entry-point name -> the function that simulates one more business day (`vigil schedule --simulate`)."""
    return {name: load(spec, callable, key=f"entry point {SIMULATORS_GROUP}:{name}")
            for name, spec in entry_point_specs(SIMULATORS_GROUP).items()}


def _is_command_set(obj: object) -> bool:
    return isinstance(obj, Sequence) and all(isinstance(d, Command | Group) for d in obj)


def command_sets() -> list[tuple[str, Sequence[Declaration]]]:
    """(entry-point name, declarations) of every package that contributes commands."""
    out: list[tuple[str, Sequence[Declaration]]] = []
    for name, spec in command_specs().items():
        obj = load(spec, _is_command_set, key=f"entry point {COMMANDS_GROUP}:{name}")
        out.append((name, obj))
    return out
