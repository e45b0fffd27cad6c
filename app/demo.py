"""The app's half of ``vigil demo`` (what ``make run`` calls): the whole loop on a fresh machine.

The example model declares the ``demo`` command (``baseline_model/cli.py``) and does steps
1-2 itself; this module does 3-4, so the app needs no import of the example model:

1. train and register the example model if the registry is empty;
2. simulate the demo history (60 days with two injected incidents) unless it has landed already;
3. run the check cycle over that history (``first_cycle``);
4. start the scheduler (simulating one more day per tick) and the Streamlit server as two
   child processes, print the address, and stop both cleanly on Ctrl-C / SIGTERM. On the very
   first run a local admin is created for the dashboard's sign-in and its generated password is
   printed once to this terminal (never logged; only its argon2 hash is stored).
"""

from __future__ import annotations

import logging
import subprocess
import sys

from app.cycle import run_cycle
from app.processes import (
    scheduler_command,
    spawn,
    stop_children,
    stop_signals_interrupt,
    streamlit_command,
    wait_any,
)
from app.reporting import cycle_text
from app.settings import child_env
from app.users_cli import first_run_admin
from core import exit_codes
from core.clock import Clock
from core.config import VigilConfig
from core.stores import OpsStore

log = logging.getLogger("vigil.demo")


def first_cycle(cfg: VigilConfig, clock: Clock | None = None) -> int:
    """Step 3: the check cycle over the history, printing each step; exit code 0, or 1 if it failed."""
    print("running the check cycle over the history ...", flush=True)
    try:
        report = run_cycle(cfg, clock=clock,
                           on_step=lambda step, seconds: print(f"  {step}: {seconds:.1f}s", flush=True))
    except Exception as err:  # recorded on the cycles row; the dashboard shows it in red
        print(f"the first cycle failed: {type(err).__name__}: {err} (recorded; the scheduler retries "
              "every schedule.interval)", file=sys.stderr)
        return exit_codes.FAILED
    print(cycle_text(report, max_failed=15))
    return exit_codes.OK


def announce_first_admin(cfg: VigilConfig, user: str | None) -> str | None:
    """First run only: create the dashboard's admin and print its password to the terminal.

    print(), never the logger: the password must not reach a log file. Later runs print nothing.
    """
    message = first_run_admin(cfg.root, user or "", ops=OpsStore(cfg.ops_path))
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
