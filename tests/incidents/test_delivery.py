"""Delivery from the outbox over real HTTP on 127.0.0.1: deadline, claims, order, idempotency keys."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from core.clock import ManualClock
from core.config import VigilConfig
from core.stores import OpsStore
from incidents import outbox
from incidents.alerts import process_results
from incidents.delivery import deliver_outbox, post_json
from incidents.notify import decide
from tests.incidents.conftest import base_config, result
from tests.incidents.webhook_server import WebhookServer

FAST = (0.01, 0.01, 0.01)


def two_groups(tmp_path: Path, kind: str = "alertmanager_webhook", **alerts: Any) -> VigilConfig:
    alerts.setdefault("receivers", [{"name": "oncall", "kind": kind, "url_env": "HOOK"}])
    alerts.setdefault("routes", [{"receiver": "oncall", "group_by": ["model", "check"]}])
    return base_config(tmp_path, **alerts)


def fire_two(cfg: VigilConfig, ops: OpsStore, clock: ManualClock) -> list[outbox.OutboxMessage]:
    process_results(cfg, ops, [result("unit_change", "applications.income", 1), result("null_rate", "bureau.credit_score", 1)], clock)
    return decide(cfg, ops, clock)


class FakeTime:
    """A monotonic clock that jumps forward whenever a request is answered."""

    def __init__(self, jump: float) -> None:
        self.t, self.jump = 0.0, jump

    def monotonic(self) -> float:
        return self.t

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        status = post_json(url, body, headers, timeout)
        self.t += self.jump
        return status


def test_every_request_carries_the_messages_key_in_header_and_payload(tmp_path: Path, clock: ManualClock) -> None:
    cfg = two_groups(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    decided = fire_two(cfg, ops, clock)
    with WebhookServer() as server:
        done = deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}, retry_delays=FAST)
    assert [d.status for d in done] == ["sent", "sent"]
    assert [r["headers"]["Idempotency-Key"] for r in server.requests] == [m.key for m in decided]
    assert [r["json"]["idempotencyKey"] for r in server.requests] == [m.key for m in decided]
    assert [m.state for m in outbox.messages(ops)] == ["delivered", "delivered"]
    logged = ops.query("SELECT idempotency_key, status FROM notifications ORDER BY notification_id")
    assert logged == [{"idempotency_key": m.key, "status": "sent"} for m in decided]


def test_slack_messages_show_their_key(tmp_path: Path, clock: ManualClock) -> None:
    cfg = two_groups(tmp_path, kind="slack")
    ops = OpsStore(tmp_path / "ops.sqlite")
    decided = fire_two(cfg, ops, clock)
    with WebhookServer() as server:
        deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}, retry_delays=FAST)
    footers = [a["footer"] for r in server.requests for a in r["json"]["attachments"]]
    assert footers == [f"Vigil notification {m.key}" for m in decided]


def test_the_run_deadline_leaves_the_rest_pending_for_the_next_run_with_the_same_key(tmp_path: Path, clock: ManualClock) -> None:
    cfg = two_groups(tmp_path, delivery_deadline="60s")
    ops = OpsStore(tmp_path / "ops.sqlite")
    decided = fire_two(cfg, ops, clock)
    fake = FakeTime(jump=61.0)  # the first answer uses up the run's deadline
    with WebhookServer() as server:
        first = deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}, monotonic=fake.monotonic, post=fake.post)
        assert [d.message.key for d in first] == [decided[0].key]
        assert [m.key for m in outbox.messages(ops, state="pending")] == [decided[1].key]
        assert ops.query("SELECT claimed_by FROM outbox WHERE state = 'pending'") == [{"claimed_by": None}]
        second = deliver_outbox(cfg, ops, clock, env={"HOOK": server.url})
    assert [d.message.key for d in second] == [decided[1].key]
    assert [r["headers"]["Idempotency-Key"] for r in server.requests] == [m.key for m in decided]
    assert outbox.pending_count(ops) == 0


def test_a_failed_message_is_resent_with_the_same_key_and_later_ones_keep_their_order(tmp_path: Path, clock: ManualClock) -> None:
    cfg = two_groups(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    decided = fire_two(cfg, ops, clock)
    with WebhookServer(responses=[500, 500, 500, 500]) as server:
        failed = deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}, retry_delays=FAST)
        # The first message failed 4 times; the second waits behind it (not tried this run).
        assert [(d.message.key, d.status, d.attempts) for d in failed] == [(decided[0].key, "failed", 4)]
        assert len(server.requests) == 4
        retried = deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}, retry_delays=FAST)
    assert [(d.message.key, d.status) for d in retried] == [(decided[0].key, "sent"), (decided[1].key, "sent")]
    keys = [r["headers"]["Idempotency-Key"] for r in server.requests]
    assert keys == [decided[0].key] * 5 + [decided[1].key]
    assert len({r["body_text"] for r in server.requests[:5]}) == 1  # every resend is the same message
    attempts = {m.key: m.attempts for m in outbox.messages(ops)}
    assert attempts == {decided[0].key: 5, decided[1].key: 1}


def test_a_live_claim_is_skipped_and_an_expired_one_taken_over(tmp_path: Path, clock: ManualClock) -> None:
    cfg = two_groups(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    decided = fire_two(cfg, ops, clock)
    # Another delivery run (a scheduler tick waiting on a slow receiver) holds both for 90 s.
    held = outbox.claim(ops, "delivery-other", clock.now(), clock.now() + timedelta(seconds=90))
    assert [m.key for m in held] == [m.key for m in decided]
    with WebhookServer() as server:
        assert deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}) == []
        assert server.requests == []
        clock.advance(timedelta(seconds=91))  # that run died: its claim expired
        taken = deliver_outbox(cfg, ops, clock, env={"HOOK": server.url})
    assert [d.status for d in taken] == ["sent", "sent"] and len(server.requests) == 2


def test_a_message_for_a_removed_receiver_is_dropped_with_a_reason(tmp_path: Path, clock: ManualClock) -> None:
    cfg = two_groups(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    fire_two(cfg, ops, clock)
    other = two_groups(tmp_path, receivers=[{"name": "pager", "url_env": "HOOK"}], routes=[])
    done = deliver_outbox(other, ops, clock, env={})
    assert {d.status for d in done} == {"dropped"}
    assert done[0].error == "receiver 'oncall' is no longer in alerts.receivers (message dropped)"
    assert {m.state for m in outbox.messages(ops)} == {"dropped"}


def test_the_notification_log_command_shows_each_outcome_with_its_key(tmp_path: Path, clock: ManualClock, capsys: Any) -> None:
    import yaml

    from app.cli import main
    from core.config import load_config

    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"name": "loan_default"},
        "predictions": {"source": {"path": "p"}, "id_column": "id", "timestamp_column": "ts", "score_column": "score"},
        "features": [{"name": "income", "type": "numeric", "lineage": "applications.income"}],
        "etl_tables": [{"name": "applications", "source": {"path": "a"}, "timestamp_column": "ts"},
                       {"name": "bureau", "source": {"path": "b"}, "timestamp_column": "ts"}],
        "alerts": {"receivers": [{"name": "oncall", "url_env": "HOOK"}],
                   "routes": [{"receiver": "oncall", "group_by": ["model", "check"]}]},
        "storage": {"root": str(tmp_path / "var")},
    }))
    cfg = load_config(config)
    ops = OpsStore(cfg.ops_path)
    decided = fire_two(cfg, ops, clock)
    with WebhookServer(responses=[500, 500, 500, 500]) as server:
        deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}, retry_delays=FAST)
        deliver_outbox(cfg, ops, clock, env={"HOOK": server.url}, retry_delays=FAST)
    code = main(["alerts", "notifications", "--config", str(config), "--user", "ana"], extra={"clock": clock})
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line for line in out.splitlines() if decided[0].key in line]
    assert len(lines) == 2 and "failed" in out and "HTTP 500" in out  # the failure, then the resend, one key
    assert sum(decided[1].key in line for line in out.splitlines()) == 1


def test_old_delivered_messages_are_pruned_but_each_groups_newest_and_the_pending_stay(tmp_path: Path, clock: ManualClock) -> None:
    cfg = two_groups(tmp_path, receivers=[{"name": "am", "kind": "alertmanager_api", "url_env": "AM"}],
                     routes=[{"receiver": "am", "group_by": ["model", "check"]}])
    ops = OpsStore(tmp_path / "ops.sqlite")
    first = fire_two(cfg, ops, clock)
    with WebhookServer() as server:
        deliver_outbox(cfg, ops, clock, env={"AM": server.url})
        clock.advance(timedelta(days=31))
        second = decide(cfg, ops, clock)  # re-posted while firing; the month-old copies go
        assert {m.key for m in outbox.messages(ops)} == {m.key for m in second}
        clock.advance(timedelta(days=31))
        third = decide(cfg, ops, clock)  # the second copies were never delivered: they stay, however old
        assert {m.key for m in outbox.messages(ops)} == {m.key for m in second + third}
        deliver_outbox(cfg, ops, clock, env={"AM": server.url})
        assert all(r["path"] == "/api/v2/alerts" for r in server.requests)
    assert len(first) == len(second) == len(third) == 2
    assert len(ops.query("SELECT * FROM notifications")) == 6  # the log of outcomes keeps everything
