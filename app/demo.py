"""``vigil demo`` (what ``make run`` calls): the whole loop on a fresh machine.

1. train and register the example model if the registry is empty;
2. simulate the demo history (60 days with two injected incidents) unless it has landed already;
3. run the check cycle over that history;
4. start the scheduler (simulating one more day per tick) and the Streamlit server as two
   child processes, print the address, and stop both cleanly on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import inspect
import logging
import signal
import subprocess
from collections.abc import Callable
from types import FrameType
from typing import Any

from app.cycle import CycleReport, run_cycle
from app.processes import scheduler_command, spawn, stop_children, streamlit_command, wait_any
from app.settings import child_env
from app.simulation import newest_landed_day
from core.clock import Clock
from core.config import VigilConfig
from core.stores import stores_for

log = logging.getLogger("vigil.demo")

DEMO_DAYS = 60


def _call_with_known(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call fn with the keyword arguments it accepts (the demo helpers' signatures vary)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def prepare_demo(cfg: VigilConfig, days: int = DEMO_DAYS, clock: Clock | None = None) -> CycleReport:
    """Steps 1-3; idempotent: a second run reuses the model and the landed history."""
    from baseline_model.demo import build_demo_history, ensure_example

    _, ops = stores_for(cfg)
    cfg.root.mkdir(parents=True, exist_ok=True)
    _call_with_known(ensure_example, root=cfg.root, ops=ops)
    if newest_landed_day(cfg.resolve(cfg.predictions.source.path)) is None:
        print(f"simulating {days} days of history with two injected incidents under {cfg.root} ...", flush=True)
        _call_with_known(build_demo_history, root=cfg.root, ops=ops, days=days)
    else:
        print(f"history already landed under {cfg.root}; reusing it", flush=True)
    print("running the check cycle over the history ...", flush=True)
    return run_cycle(cfg, clock=clock)


def serve(cfg: VigilConfig, user: str, port: int, simulate: bool = True) -> int:
    """Step 4: scheduler + Streamlit until Ctrl-C; returns 0 on a requested stop."""
    env = child_env(cfg, user)
    children: list[subprocess.Popen[bytes]] = []

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        children.append(spawn(scheduler_command(simulate=simulate), env))
        children.append(spawn(streamlit_command(port), env))
        print(f"\nVigil is running: http://localhost:{port}   (Ctrl-C stops the scheduler and the app)\n", flush=True)
        exited = wait_any(children)
        print(f"a child process exited with code {exited.returncode}: {exited.args!s}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping the scheduler and the app ...", flush=True)
        return 0
    finally:
        stop_children(children)
        signal.signal(signal.SIGTERM, previous)
