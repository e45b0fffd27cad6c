"""``vigil demo`` (what ``make run`` calls): the whole loop on a fresh machine.

1. train and register the example model if the registry is empty;
2. simulate the demo history (60 days with two injected incidents) unless it has landed already;
3. run the check cycle over that history;
4. start the scheduler (simulating one more day per tick) and the Streamlit server as two
   child processes, print the address, and stop both cleanly on Ctrl-C / SIGTERM. On the very
   first run a local admin is created for the dashboard's sign-in and its generated password is
   printed once to this terminal (never logged; only its argon2 hash is stored).
"""

from __future__ import annotations

import logging
import subprocess
from typing import Any

from app.cycle import CycleReport, run_cycle
from app.processes import (
    scheduler_command,
    spawn,
    stop_children,
    stop_signals_interrupt,
    streamlit_command,
    wait_any,
)
from app.settings import child_env
from app.users_cli import first_run_admin
from core.clock import Clock
from core.config import VigilConfig
from core.stores import stores_for

log = logging.getLogger("vigil.demo")

DEMO_DAYS = 60


def prepare_history(cfg: VigilConfig, days: int = DEMO_DAYS, clock: Clock | None = None) -> dict[str, Any]:
    """Steps 1-2; idempotent: a second run reuses the registered model and the landed history."""
    from baseline_model.demo import build_demo_history, ensure_example

    _, ops = stores_for(cfg)
    cfg.root.mkdir(parents=True, exist_ok=True)
    print(f"example model and {days} days of history (two injected incidents) under {cfg.root} ...", flush=True)
    ensure_example(cfg.root, ops, history_days=days, clock=clock)
    history: dict[str, Any] = build_demo_history(cfg.root, ops, days=days, clock=clock)
    if history.get("already_done"):
        print(f"history already simulated ({history.get('start')}, {history.get('days')} days); reusing it", flush=True)
    return history


def prepare_demo(cfg: VigilConfig, days: int = DEMO_DAYS, clock: Clock | None = None) -> CycleReport:
    """Steps 1-3."""
    prepare_history(cfg, days, clock)
    print("running the check cycle over the history ...", flush=True)
    return run_cycle(cfg, clock=clock)


def announce_first_admin(cfg: VigilConfig, user: str | None) -> str | None:
    """First run only: create the dashboard's admin and print its password to the terminal.

    print(), never the logger: the password must not reach a log file. Later runs print nothing.
    """
    message = first_run_admin(cfg.root, user or "")
    if message is not None:
        print(f"\n{message}\n", flush=True)
    return message


def serve(cfg: VigilConfig, user: str, port: int, simulate: bool = True) -> int:
    """Step 4: scheduler + Streamlit until Ctrl-C; returns 0 on a requested stop."""
    announce_first_admin(cfg, user)
    env = child_env(cfg, user)
    children: list[subprocess.Popen[bytes]] = []
    with stop_signals_interrupt():
        try:
            children.append(spawn(scheduler_command(simulate=simulate), env))
            children.append(spawn(streamlit_command(port), env))
            print(f"\nVigil is running: http://localhost:{port}   (Ctrl-C stops the scheduler and the app)\n",
                  flush=True)
            exited = wait_any(children)
            print(f"a child process exited with code {exited.returncode}: {exited.args!s}")
            return 1
        except KeyboardInterrupt:
            print("\nstopping the scheduler and the app ...", flush=True)
            return 0
        finally:
            stop_children(children)
