"""Config-named extension points (`module:attribute`): the one place that imports by name.

    adapter_cls = load("baseline_model.adapter:LoanModelAdapter", ModelAdapter, key="model.adapter")

The attribute must offer every member the protocol declares (a class or an instance);
anything else is a ConfigError naming the key, the spec and a hint.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from core.config import ConfigError

_SPEC = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")


def protocol_members(protocol: type) -> list[str]:
    """Methods a protocol declares, without dunders."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        names |= {n for n, v in vars(klass).items() if not n.startswith("_") and callable(v)}
    return sorted(names)


def load(spec: str, protocol: type | None = None, *, key: str = "plugin") -> Any:
    """Import `module:attribute` and check it offers the protocol's members."""
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
        raise ConfigError(f"{key}: {spec!r}: module {module_name!r} has no attribute {attr!r} (hint: check the name after ':')") from None
    if protocol is not None:
        missing = [n for n in protocol_members(protocol) if not hasattr(obj, n)]
        if missing:
            raise ConfigError(
                f"{key}: {spec!r} does not implement {protocol.__name__}: missing {', '.join(missing)} "
                f"(hint: see CONTRACTS.md for what a {protocol.__name__} provides)"
            )
    return obj
