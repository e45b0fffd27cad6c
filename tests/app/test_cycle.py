"""run_cycle over a small store built by the test: ingest -> reference -> profile -> checks -> alerts."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.cycle import CycleBusy, run_cycle
from core.clock import ManualClock
from core.config import VigilConfig
from core.stores import cycle_lock, stores_for
from tests.app.builders import write_day, write_history

START = date(2024, 3, 1)
UNIT_DAY = START + timedelta(days=6)


def cycles(cfg: VigilConfig) -> list[dict]:
    return stores_for(cfg)[1].query("SELECT * FROM cycles ORDER BY started_at")


def test_a_failed_cycle_is_recorded_and_raised(cfg: VigilConfig) -> None:
    # No reference file: the reference step fails for real.
    write_day(cfg.root, START)
    clock = ManualClock(datetime(2024, 3, 2, 6, 0))
    with pytest.raises(Exception, match="reference file not found"):
        run_cycle(cfg, clock=clock)
    rows = cycles(cfg)
    assert len(rows) == 1
    assert rows[0]["status"] == "failed"
    assert rows[0]["finished_at"] == "2024-03-02T06:00:00+00:00"
    assert "reference file not found" in rows[0]["error"]
    assert json.loads(rows[0]["summary"])["files_loaded"] == 2  # ingest ran before the failure


def test_cycle_busy_when_not_waiting_for_the_lock(cfg: VigilConfig) -> None:
    with cycle_lock(cfg.root / "cycle.lock") as held:
        assert held
        with pytest.raises(CycleBusy, match="another cycle is running"):
            run_cycle(cfg, wait_for_lock=False)
    assert cycles(cfg) == []


@pytest.fixture
def history(cfg: VigilConfig) -> VigilConfig:
    write_history(cfg.root, START, days=8, unit_change_day=UNIT_DAY)
    return cfg


def test_full_cycle_flags_the_unit_change_day_and_records_the_cycle(history: VigilConfig) -> None:
    pytest.importorskip("checks.runner")
    cfg = history
    clock = ManualClock(datetime(2024, 3, 9, 6, 0))
    steps: list[str] = []
    report = run_cycle(cfg, clock=clock, notify=False, on_step=lambda name, _seconds: steps.append(name))
    assert report.status == "ok"
    assert steps == ["ingest", "reference", "profile", "checks", "alerts", "heartbeats"]
    assert report.files_loaded == 16
    assert [b.date() for b in report.batches_profiled] == [START + timedelta(days=i) for i in range(8)]
    assert report.results, "checks ran"
    unit_fails = {(r.subject, r.batch.date()) for r in report.failed_checks if r.family == "unit_change" and r.batch}
    assert ("applications.income", UNIT_DAY) in unit_fails
    assert all(day == UNIT_DAY for _, day in unit_fails)

    data = report.to_dict()
    text = json.dumps(data)  # valid JSON, nothing left unconverted
    assert json.loads(text)["summary"]["failed_checks"] == len(report.failed_checks)
    fired = {
        (t["check"], t["subject"], t["batch"][:10])
        for t in data["alerts"]["transitions"]
        if t["to_state"] == "firing"
    }
    assert any(check.startswith("unit_change") and subject == "applications.income" and day == UNIT_DAY.isoformat()
               for check, subject, day in fired), fired
    assert {day for _, _, day in fired} == {UNIT_DAY.isoformat()}, "clean days fire nothing"

    row = cycles(cfg)[-1]
    assert row["status"] == "ok" and row["cycle_id"] == report.cycle_id
    assert json.loads(row["summary"])["checks"] == len(report.results)

    # Nothing new landed: the next cycle loads and profiles nothing.
    again = run_cycle(cfg, clock=clock, notify=False)
    assert (again.files_loaded, again.batches_profiled, again.results) == (0, [], [])


def test_run_once_json_and_exit_code(history: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("checks.runner")
    code = main(["run-once", "--json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 1  # the unit-change day failed its checks
    assert data["status"] == "ok"
    assert any(r["status"] == "fail" and r["family"] == "unit_change" for r in data["results"])
    code = main(["run-once"])
    out = capsys.readouterr().out
    assert code == 0  # nothing new, nothing failed in this cycle
    assert "files: 0 loaded" in out
    code = main(["status", "--json"])
    status = json.loads(capsys.readouterr().out)
    assert code == 0
    assert status["last_cycle"]["status"] == "ok" and status["stale"] is False
    assert status["firing_alerts"] == 0  # the unit-change alert resolved on the clean day after it
    assert status["latest_batch"]["batch"] == "2024-03-08T00:00:00"


def test_second_landing_is_profiled_incrementally(history: VigilConfig) -> None:
    pytest.importorskip("checks.runner")
    cfg = history
    run_cycle(cfg, notify=False)
    write_day(cfg.root, START + timedelta(days=8))
    report = run_cycle(cfg, notify=False)
    assert report.files_loaded == 2
    assert [b.date() for b in report.batches_profiled] == [START + timedelta(days=8)]
    assert Path(cfg.warehouse_path).exists()


def test_cycle_notifies_a_real_webhook_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cycle's last step sends the firing group to a receiver on 127.0.0.1, and only once."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from core.config import config_from_dict
    from tests.app.conftest import small_config

    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("VIGIL_TEST_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
        data = small_config()
        data["alerts"] = {
            "receivers": [{"name": "oncall", "kind": "alertmanager", "url_env": "VIGIL_TEST_WEBHOOK"}],
            "routes": [{"receiver": "oncall"}],
        }
        data["schedule"] = {"interval": "5m"}  # the second cycle below is on time: no heartbeat alert
        cfg = config_from_dict(data, file="notify.yaml", root=tmp_path / "var")
        # The unit change on the newest day keeps its alert firing.
        write_history(cfg.root, START, days=7, unit_change_day=UNIT_DAY)
        report = run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 8, 6, 0)))
        assert report.notifications, "something was sent"
        assert received and all(r.get("status") in ("firing", "resolved") for r in received)
        assert any(
            a["labels"].get("subject") == "applications.income" for r in received for a in r.get("alerts", [])
        )
        sent = len(received)
        run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 8, 6, 5)))  # nothing new: nothing sent again
        assert len(received) == sent
    finally:
        server.shutdown()


def test_work_of_a_killed_cycle_is_finished_by_the_next(history: VigilConfig) -> None:
    """A cycle killed after profiling: its 'running' row is marked, its batches get checked next time."""
    from app.cycle import CycleReport as Report
    from app.cycle import record_start, step_ingest, step_profile, step_reference

    cfg = history
    wh, ops = stores_for(cfg)
    dead = Report(cycle_id="cycle-dead", model=cfg.model.name, started_at=datetime(2024, 3, 9, 5, 0))
    record_start(ops, dead)
    dirty, _ = step_ingest(cfg, wh, dead)
    step_reference(cfg, wh)
    step_profile(cfg, wh, dirty)  # ... and the process died here, before the checks

    report = run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 9, 6, 0)), notify=False)
    assert report.batches_profiled == []  # nothing new to profile
    assert {r.batch.date() for r in report.results if r.batch} == {START + timedelta(days=i) for i in range(8)}
    rows = {r["cycle_id"]: r for r in cycles(cfg)}
    assert rows["cycle-dead"]["status"] == "failed"
    assert rows["cycle-dead"]["error"].startswith("interrupted")
    assert rows[report.cycle_id]["status"] == "ok"
