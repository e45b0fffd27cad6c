"""Benchmark: user actions while the scheduler runs check cycles back to back (issue 7).

One process runs ``app.cycle.run_cycle`` back to back on a small simulated business (the
example loan model, trained once; each cycle first simulates and scores one more day, so
every cycle ingests, profiles and checks new data). Another process performs a steady
stream of the actions an on-call engineer takes from the dashboard, through the same
package functions the app calls: acknowledge an alert, silence it, add an incident note,
save a postmortem revision. Afterwards every action that reported success is looked up in
the store; one that is missing is *lost*.

Prints actions attempted / succeeded / failed / lost (target: none lost, none failed), the
worst wait for the ops store's write lock (measured around each transaction's BEGIN IMMEDIATE
in the action process), the worst wall time of a whole action, and the cycles run. The short form runs in
tests/e2e/test_contention.py.

Usage: .venv/bin/python bench/contention_bench.py [--seconds 60] [--volume 200] [--root DIR]
This is a benchmark, not a test: it prints figures and never asserts on time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import traceback
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.clock import SystemClock  # noqa: E402
from core.config import VigilConfig, config_from_dict  # noqa: E402
from core.stores import OpsStore  # noqa: E402

EXAMPLE_CONFIG = ROOT / "baseline_model" / "configs" / "monitor.yaml"
START = date(2026, 3, 2)
INITIAL_DAYS = 16
ACTION_KINDS = ("ack", "silence", "note", "postmortem")


@dataclasses.dataclass
class ContentionReport:
    seconds: float
    cycles_ok: int
    cycles_failed: int
    cycle_errors: list[str]
    attempted: int
    succeeded: int
    failed: int
    lost: int
    failures: list[str]
    lost_actions: list[dict[str, Any]]
    worst_wait_seconds: float
    median_wait_seconds: float
    p95_wait_seconds: float
    worst_action_seconds: float
    median_action_seconds: float
    by_kind: dict[str, int]

    def lines(self) -> list[str]:
        return [
            f"duration                 {self.seconds:.1f} s",
            f"cycles                   {self.cycles_ok} ok, {self.cycles_failed} failed",
            f"actions attempted        {self.attempted}   ({', '.join(f'{k} {n}' for k, n in self.by_kind.items())})",
            f"actions succeeded        {self.succeeded}",
            f"actions failed           {self.failed}",
            f"actions lost             {self.lost}",
            f"worst wait for a lock    {self.worst_wait_seconds * 1000:.1f} ms "
            f"(median {self.median_wait_seconds * 1000:.2f} ms, p95 {self.p95_wait_seconds * 1000:.2f} ms; "
            "BEGIN IMMEDIATE on the ops store)",
            f"worst action             {self.worst_action_seconds * 1000:.1f} ms "
            f"(median {self.median_action_seconds * 1000:.1f} ms; whole action, wall time)",
        ]


# ---- the simulated business --------------------------------------------------------------


def bench_config(root: Path, volume: int) -> VigilConfig:
    """The example's monitoring config, with the expected daily volume scaled to this business."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    for table in data.get("etl_tables", []):
        if "expected_rows" in table:
            table["expected_rows"] = [max(1, volume // 2), volume * 2]
    path = root / "monitor.yaml"
    path.write_text(yaml.safe_dump(data))
    return config_from_dict(data, file=str(path), root=root)


def prepare(root: Path, volume: int, seed: int, initial_days: int = INITIAL_DAYS) -> tuple[VigilConfig, str, str]:
    """Train and register the example model, simulate a history with a unit change on its last
    day, run one cycle (alerts fire, an incident opens) and start the incident's postmortem.

    Returns (config, fingerprint of a firing alert, incident id).
    """
    from app.cycle import run_cycle
    from baseline_model.demo import ensure_example
    from baseline_model.simulator import Incident, simulate_history
    from core.clock import ManualClock
    from incidents.postmortem import create_postmortem
    from incidents.queries import alerts_with_incidents, list_incidents

    root.mkdir(parents=True, exist_ok=True)
    ops = OpsStore(root / "ops.sqlite")
    clock = ManualClock(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))
    ensure_example(root, ops, today=START + timedelta(days=initial_days), history_days=initial_days + 1,
                   snapshot_days=20, snapshot_volume=max(volume, 300), seed=seed, clock=clock, progress=False)
    simulate_history(root, START, initial_days, seed, volume=volume, ops=ops,
                     incidents=[Incident("unit_change", day=initial_days - 1, column="income", size=0.001)])
    (root / "bench_next_day.txt").write_text((START + timedelta(days=initial_days)).isoformat())
    cfg = bench_config(root, volume)
    run_cycle(cfg, notify=False)
    ops = OpsStore(cfg.ops_path)
    firing = alerts_with_incidents(ops, model=cfg.model.name, state="firing")
    if not firing:
        raise RuntimeError("the setup cycle fired no alert (hint: the unit-change incident was not detected)")
    incidents = list_incidents(ops, model=cfg.model.name)
    if not incidents:
        raise RuntimeError("the setup cycle opened no incident for the critical unit-change alert")
    incident_id = str(incidents[0]["incident_id"])
    create_postmortem(cfg, ops, SystemClock(), incident_id, "bench-setup")
    return cfg, str(firing[0]["fingerprint"]), incident_id


# ---- the two processes --------------------------------------------------------------------


def cycle_loop(config_file: str, root: str, deadline: float, volume: int, seed: int, out: str) -> None:
    """Simulate one more day and run a cycle, back to back, until the deadline."""
    from app.cycle import run_cycle
    from baseline_model.simulator import simulate_history
    from core.config import load_config

    cfg = load_config(config_file, root=root)
    ops = OpsStore(cfg.ops_path)
    ok, failed, errors, durations = 0, 0, [], []
    day = date.fromisoformat((Path(root) / "bench_next_day.txt").read_text().strip())
    while time.time() < deadline:
        simulate_history(cfg.root, day, 1, seed, volume=volume, ops=ops)
        day += timedelta(days=1)
        started = time.perf_counter()
        try:
            run_cycle(cfg, notify=False)
            ok += 1
        except Exception as err:  # recorded and counted: a failed cycle is a bench result, not a crash
            failed += 1
            errors.append(f"{type(err).__name__}: {err}")
        durations.append(time.perf_counter() - started)
    Path(out).write_text(json.dumps({"ok": ok, "failed": failed, "errors": errors, "durations": durations}))


def do_action(kind: str, n: int, ops: OpsStore, fingerprint: str, incident_id: str, subject: str) -> dict[str, Any]:
    """One user action through the package function the app calls; returns how to find it again."""
    from incidents.postmortem import save_revision
    from incidents.queries import ack_alert, add_note
    from incidents.silences import Matcher, add_silence

    clock = SystemClock()
    user = f"bench-user-{n}"
    if kind == "ack":
        ack_alert(ops, clock, fingerprint, user)
        return {"kind": kind, "user": user}
    if kind == "silence":
        silence = add_silence(ops, clock, matchers=[Matcher(name="subject", op="=", value=subject)],
                              ends_at=clock.now() + timedelta(minutes=30), author=user,
                              comment=f"contention bench silence {n}")
        return {"kind": kind, "silence_id": silence.silence_id}
    if kind == "note":
        text = f"contention bench note {n}"
        add_note(ops, clock, incident_id, user, text)
        return {"kind": kind, "text": text}
    if kind == "postmortem":
        saved = save_revision(ops, clock, incident_id, {"summary": f"contention bench summary {n}"}, user)
        return {"kind": kind, "revision": saved.revision, "text": f"contention bench summary {n}"}
    raise ValueError(f"unknown action kind {kind!r} (hint: one of {', '.join(ACTION_KINDS)})")


def action_loop(ops_path: str, fingerprint: str, incident_id: str, subject: str, start: float, deadline: float,
                interval: float, out: str) -> None:
    """A steady stream of actions, one every `interval` seconds, cycling through the kinds."""
    ops = OpsStore(ops_path)
    do_action("note", -1, ops, fingerprint, incident_id, subject)  # imports and schema check, before the clock starts
    while time.time() < start:
        time.sleep(0.01)
    records: list[dict[str, Any]] = []
    n = 0
    while time.time() < deadline:
        kind = ACTION_KINDS[n % len(ACTION_KINDS)]
        ops.lock_waits = []
        began = time.perf_counter()
        try:
            found = do_action(kind, n, ops, fingerprint, incident_id, subject)
            records.append({"ok": True, "took": time.perf_counter() - began, "lock_waits": ops.lock_waits, **found})
        except Exception as err:  # a failed action is the figure this bench exists to count
            records.append({"ok": False, "kind": kind, "took": time.perf_counter() - began,
                            "lock_waits": ops.lock_waits,
                            "error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc(limit=3)})
        n += 1
        time.sleep(interval)
    Path(out).write_text(json.dumps(records))


# ---- verification ---------------------------------------------------------------------------


def is_in_store(ops: OpsStore, record: dict[str, Any], fingerprint: str, incident_id: str) -> bool:
    kind = record["kind"]
    if kind == "ack":
        rows = ops.query("SELECT 1 FROM alert_events WHERE fingerprint = ? AND kind = 'ack' AND actor = ?",
                         (fingerprint, record["user"]))
    elif kind == "silence":
        rows = ops.query("SELECT 1 FROM silences WHERE silence_id = ?", (record["silence_id"],))
    elif kind == "note":
        rows = ops.query("SELECT 1 FROM incident_timeline WHERE incident_id = ? AND kind = 'note' AND text = ?",
                         (incident_id, record["text"]))
    else:
        rows = ops.query("SELECT fields FROM postmortem_revisions WHERE incident_id = ? AND revision = ?",
                         (incident_id, record["revision"]))
        return bool(rows) and json.loads(rows[0]["fields"]).get("summary") == record["text"]
    return bool(rows)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_contention(root: Path, seconds: float = 60.0, volume: int = 200, seed: int = 7,
                   interval: float = 0.05, initial_days: int = INITIAL_DAYS) -> ContentionReport:
    cfg, fingerprint, incident_id = prepare(root, volume, seed, initial_days)
    ops = OpsStore(cfg.ops_path)
    subject = str(ops.query("SELECT subject FROM alerts WHERE fingerprint = ?", (fingerprint,))[0]["subject"])
    ctx = mp.get_context("spawn")  # fresh interpreters, like the scheduler and the dashboard
    cycle_out, action_out = root / "bench_cycles.json", root / "bench_actions.json"
    start = time.time() + 3.0  # both children imported and ready before the clock starts
    deadline = start + seconds
    cycles = ctx.Process(target=cycle_loop, args=(cfg.source_file, str(cfg.root), deadline, volume, seed,
                                                  str(cycle_out)))
    actions = ctx.Process(target=action_loop, args=(str(cfg.ops_path), fingerprint, incident_id, subject, start,
                                                    deadline, interval, str(action_out)))
    cycles.start()
    actions.start()
    actions.join()
    cycles.join()
    if cycles.exitcode != 0 or actions.exitcode != 0:
        raise RuntimeError(f"a bench process crashed (cycles exit {cycles.exitcode}, actions exit {actions.exitcode})")
    cycle_data = json.loads(cycle_out.read_text())
    records = json.loads(action_out.read_text())

    succeeded = [r for r in records if r["ok"]]
    failed = [r for r in records if not r["ok"]]
    lost = [r for r in succeeded if not is_in_store(ops, r, fingerprint, incident_id)]
    waits = [float(w) for r in records for w in r["lock_waits"]]
    took = [float(r["took"]) for r in records]
    by_kind: dict[str, int] = {}
    for r in records:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + 1
    return ContentionReport(
        seconds=seconds,
        cycles_ok=int(cycle_data["ok"]),
        cycles_failed=int(cycle_data["failed"]),
        cycle_errors=list(cycle_data["errors"]),
        attempted=len(records),
        succeeded=len(succeeded),
        failed=len(failed),
        lost=len(lost),
        failures=[str(r["error"]) for r in failed],
        lost_actions=lost,
        worst_wait_seconds=max(waits, default=0.0),
        median_wait_seconds=statistics.median(waits) if waits else 0.0,
        p95_wait_seconds=_percentile(waits, 0.95),
        worst_action_seconds=max(took, default=0.0),
        median_action_seconds=statistics.median(took) if took else 0.0,
        by_kind=by_kind,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long cycles and actions run together")
    parser.add_argument("--volume", type=int, default=200, help="applications per simulated day")
    parser.add_argument("--interval", type=float, default=0.05, help="pause between two actions (seconds)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--root", type=Path, default=None, help="storage root (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vigil-contention-") as tmp:
        root = args.root or Path(tmp)
        print(f"preparing the simulated business in {root} ...", flush=True)
        report = run_contention(root, args.seconds, args.volume, args.seed, args.interval)
    for line in report.lines():
        print(line)
    for error in report.failures[:5] + report.cycle_errors[:5]:
        print(f"  error: {error}")
    return 0 if report.failed == 0 and report.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
