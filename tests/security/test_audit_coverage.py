"""Every write leaves an audit entry (finding 5): run-once, ingest, quarantine retry, the
cycle's own writes (actor system:cycle, e.g. incidents it opens), recommendations (the acting
user) and user creation, the first admin included. The chain stays intact through all of it."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from app import cli
from app.cycle import run_cycle
from core import audit, auth
from core.clock import ManualClock
from core.config import VigilConfig
from core.stores import stores_for
from tests.app.builders import write_history


def _actions(cfg: VigilConfig) -> list[tuple[str, str]]:
    return [(e.actor, e.action) for e in reversed(audit.list_entries(stores_for(cfg)[1], limit=None))]


def test_cycle_start_finish_and_its_own_writes_are_audited(cfg: VigilConfig) -> None:
    write_history(cfg.root, date(2024, 3, 1), days=7, unit_change_day=date(2024, 3, 7))
    report = run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 8, 6)), notify=False, actor="tester")
    entries = audit.list_entries(stores_for(cfg)[1], limit=None)
    by_action = {e.action: e for e in entries}
    assert by_action["cycle.start"].actor == "tester" and by_action["cycle.start"].target == report.cycle_id
    assert by_action["cycle.finish"].after["status"] == "ok"
    transitions = [e for e in entries if e.action == "alerts.transition"]
    assert transitions and {e.actor for e in transitions} == {audit.CYCLE_ACTOR}
    opened = [e for e in entries if e.action == "incidents.open"]
    assert report.alerts.incidents_opened, "the unit change opens an incident"
    assert {e.target for e in opened} == set(report.alerts.incidents_opened)
    assert {e.actor for e in opened} == {audit.CYCLE_ACTOR}
    assert audit.verify(stores_for(cfg)[1]).ok


def test_scheduled_cycle_is_audited_as_system_cycle(cfg: VigilConfig) -> None:
    write_history(cfg.root, date(2024, 3, 1), days=1)
    run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 8, 6)), notify=False)
    assert ("system:cycle", "cycle.start") in _actions(cfg)


def test_cli_ingest_and_quarantine_retry_are_audited(cfg: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    write_history(cfg.root, date(2024, 3, 1), days=2)
    bad = cfg.root / "landing" / "predictions" / "predictions_2024-03-05.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    assert cli.main(["ingest"]) == 1  # something was quarantined
    entry = next(e for e in audit.list_entries(stores_for(cfg)[1]) if e.action == "ingest.run")
    assert entry.actor == "tester"
    assert entry.after["loaded"] == 4 and entry.after["quarantined"][0]["path"].endswith("predictions_2024-03-05.parquet")
    assert cli.main(["quarantine", "retry", "--all"]) == 1
    retry = next(e for e in audit.list_entries(stores_for(cfg)[1]) if e.action == "quarantine.retry")
    assert retry.actor == "tester" and retry.target == "all"


def test_cli_run_once_is_audited_with_the_acting_user(cfg: VigilConfig) -> None:
    write_history(cfg.root, date(2024, 3, 1), days=2)
    cli.main(["run-once", "--no-notify"])
    starts = [e for e in audit.list_entries(stores_for(cfg)[1]) if e.action == "cycle.start"]
    assert [e.actor for e in starts] == ["tester"]


def test_first_admin_is_audited(tmp_path: Path) -> None:
    from core.stores import OpsStore

    ops = OpsStore(tmp_path / "ops.sqlite")
    assert auth.ensure_admin(tmp_path, "operator", ops=ops) is not None
    entry = audit.list_entries(ops)[0]
    assert (entry.actor, entry.action, entry.target) == ("system", "users.add", "operator")
    assert entry.after == {"role": "admin", "first_admin": True}
