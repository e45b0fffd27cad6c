"""Each notification stage alone: a pure function of (alerts, context) with an injected clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from core.config import VigilConfig
from core.stores import OpsStore
from incidents import outbox
from incidents.alerts import process_results
from incidents.notify import (
    DECIDING,
    NotifyContext,
    PipelineAlert,
    decide,
    dedup,
    group,
    inhibit,
    messages_for,
    run_stages,
    silence,
    silence_marks,
)
from incidents.outbox import LoggedGroup
from incidents.silences import Matcher, Silence, add_silence
from tests.incidents.conftest import WALL0, base_config, result


def alert(check: str, subject: str = "applications.income", state: str = "firing", **kw: Any) -> PipelineAlert:
    labels = {"check": check, "model": "loan_default", "subject": subject, "severity": kw.pop("severity", "critical")}
    labels |= kw.pop("labels", {})
    return PipelineAlert(
        fingerprint=f"fp-{check}-{subject}",
        labels=labels,
        annotations={"explanation": f"{check} failed", "value": 1.0, "lower": 0.0, "upper": 0.5, "batch": "2026-03-02"},
        state=state,
        severity=labels["severity"],
        started_batch="2026-03-02",
        fired_at="2026-03-20T12:00:00+00:00",
        resolved_at=None if state == "firing" else "2026-03-20T13:00:00+00:00",
        inhibited_by=kw.pop("inhibited_by", None),
        silenced_by=kw.pop("silenced_by", None),
        incident_id=kw.pop("incident_id", None),
    )


def config(tmp_path: Path, **alerts: Any) -> VigilConfig:
    alerts.setdefault("receivers", [{"name": "oncall", "kind": "alertmanager", "url_env": "HOOK"}])
    alerts.setdefault("routes", [{"receiver": "oncall", "group_by": ["model"], "repeat_interval": "4h"}])
    return base_config(tmp_path, **alerts)


def ctx_for(cfg: VigilConfig, clock: ManualClock, **kw: Any) -> NotifyContext:
    return NotifyContext(cfg=cfg, now=clock.now(), **kw)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(WALL0)


def test_the_deciding_stages_in_order() -> None:
    assert DECIDING == (inhibit, silence, group, dedup)


# ---- inhibit ------------------------------------------------------------------------------


def test_inhibit_drops_inhibited_firing_alerts_only(tmp_path: Path, clock: ManualClock) -> None:
    ctx = ctx_for(config(tmp_path), clock)
    root = alert("unit_change")
    explained = alert("psi", "predictions.income", inhibited_by=root.fingerprint)
    resolved_explained = alert("null_rate", state="resolved", inhibited_by=root.fingerprint)
    given = [root, explained, resolved_explained]
    assert inhibit(given, ctx) == [root, resolved_explained]
    assert given == [root, explained, resolved_explained]  # input untouched


# ---- silence ------------------------------------------------------------------------------


def _silence(matchers: list[Matcher], clock: ManualClock, hours: int = 1) -> Silence:
    now = clock.now()
    return Silence("sil-1", tuple(matchers), now, now + timedelta(hours=hours), "ana", "backfill", now)


def test_silence_drops_matched_alerts_and_marks_only_changes(tmp_path: Path, clock: ManualClock) -> None:
    s = _silence([Matcher("subject", "=~", r"bureau\..*")], clock)
    ctx = ctx_for(config(tmp_path), clock, silences=(s,))
    bureau = alert("null_rate", "bureau.credit_score")
    apps = alert("unit_change")
    already = alert("psi", "bureau.income", silenced_by="sil-1")
    unsilenced = alert("psi", "applications.loan_amount", silenced_by="sil-old")
    assert silence([bureau, apps, already, unsilenced], ctx) == [apps, unsilenced]
    assert silence_marks([bureau, apps, already, unsilenced], ctx) == [("sil-1", bureau.fingerprint), (None, unsilenced.fingerprint)]
    # No silence in the context: nothing dropped.
    assert silence([bureau, apps], ctx_for(config(tmp_path), clock)) == [bureau, apps]


# ---- group --------------------------------------------------------------------------------


def test_group_routes_each_alert_once_per_matching_route(tmp_path: Path, clock: ManualClock) -> None:
    cfg = config(
        tmp_path,
        receivers=[{"name": "oncall", "url_env": "HOOK"}, {"name": "team", "kind": "slack", "url_env": "SLACK"}],
        routes=[
            {"receiver": "team", "match": {"owner": "team-bureau"}, "group_by": ["owner"], "continue": True},
            {"receiver": "oncall", "match": {"severity": "critical"}, "group_by": ["model", "check"]},
        ],
    )
    ctx = ctx_for(cfg, clock)
    bureau = alert("null_rate", "bureau.credit_score", labels={"owner": "team-bureau"})
    warning = alert("unit_change", severity="warning")
    routed = group([bureau, warning], ctx)
    where = [(a.fingerprint, a.routed.receiver, a.routed.route, dict(a.routed.group_labels)) for a in routed if a.routed]
    assert where == [
        (bureau.fingerprint, "team", 0, {"owner": "team-bureau"}),
        (bureau.fingerprint, "oncall", 1, {"model": "loan_default", "check": "null_rate"}),
        (warning.fingerprint, "oncall", -1, {"model": "loan_default", "check": "unit_change"}),  # no route: first receiver
    ]
    assert {a.routed.kind for a in routed if a.routed} == {"slack", "alertmanager_webhook"}


# ---- dedup --------------------------------------------------------------------------------


def _routed(cfg: VigilConfig, clock: ManualClock, alerts: list[PipelineAlert]) -> list[PipelineAlert]:
    return group(alerts, ctx_for(cfg, clock))


def test_dedup_new_firing_passes_then_nothing_new_until_the_repeat_interval(tmp_path: Path, clock: ManualClock) -> None:
    cfg = config(tmp_path)
    a, b = alert("unit_change"), alert("null_rate")
    routed = _routed(cfg, clock, [a, b])
    gid = routed[0].routed.group_id  # type: ignore[union-attr]
    assert dedup(routed, ctx_for(cfg, clock)) == routed  # empty log: all new
    told = {gid: LoggedGroup(frozenset({a.fingerprint, b.fingerprint}), clock.now())}
    clock.advance(timedelta(hours=3, minutes=59))
    assert dedup(routed, ctx_for(cfg, clock, log=told)) == []
    clock.advance(timedelta(minutes=1))
    assert dedup(routed, ctx_for(cfg, clock, log=told)) == routed  # repeat_interval (4h) passed
    # A new firing alert brings the whole group along.
    c = alert("psi", "applications.loan_amount")
    more = _routed(cfg, clock, [a, b, c])
    assert dedup(more, ctx_for(cfg, clock, log={gid: LoggedGroup(frozenset({a.fingerprint, b.fingerprint}), clock.now())})) == more


def test_dedup_resolved_only_when_the_receiver_was_told_it_fired(tmp_path: Path, clock: ManualClock) -> None:
    cfg = config(tmp_path)
    firing = alert("null_rate")
    told_resolved = alert("unit_change", state="resolved")
    never_told = alert("psi", "applications.loan_amount", state="resolved")
    routed = _routed(cfg, clock, [firing, told_resolved, never_told])
    gid = routed[0].routed.group_id  # type: ignore[union-attr]
    log = {gid: LoggedGroup(frozenset({firing.fingerprint, told_resolved.fingerprint}), clock.now())}
    kept = dedup(routed, ctx_for(cfg, clock, log=log))
    assert [a.fingerprint for a in kept] == [firing.fingerprint, told_resolved.fingerprint]
    # Once told it resolved, it is not repeated.
    log = {gid: LoggedGroup(frozenset({firing.fingerprint}), clock.now())}
    assert dedup(routed, ctx_for(cfg, clock, log=log)) == []


def test_dedup_reposts_to_alertmanager_every_run_while_firing(tmp_path: Path, clock: ManualClock) -> None:
    cfg = config(tmp_path, receivers=[{"name": "am", "kind": "alertmanager_api", "url_env": "AM"}], routes=[])
    a = alert("unit_change")
    routed = _routed(cfg, clock, [a])
    gid = routed[0].routed.group_id  # type: ignore[union-attr]
    log = {gid: LoggedGroup(frozenset({a.fingerprint}), clock.now())}
    clock.advance(timedelta(minutes=5))
    assert dedup(routed, ctx_for(cfg, clock, log=log)) == routed
    resolved = _routed(cfg, clock, [replace(a, state="resolved")])
    assert dedup(resolved, ctx_for(cfg, clock, log=log)) == resolved
    assert dedup(resolved, ctx_for(cfg, clock, log={gid: LoggedGroup(frozenset(), clock.now())})) == []


def test_dedup_refuses_alerts_that_were_not_grouped(tmp_path: Path, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="without a route"):
        dedup([alert("unit_change")], ctx_for(config(tmp_path), clock))


# ---- the pipeline and its edges -------------------------------------------------------------


def test_run_stages_composes_the_list(tmp_path: Path, clock: ManualClock) -> None:
    cfg = config(tmp_path)
    s = _silence([Matcher("check", "=", "null_rate")], clock)
    ctx = ctx_for(cfg, clock, silences=(s,))
    root = alert("unit_change")
    alerts = [root, alert("psi", "predictions.income", inhibited_by=root.fingerprint), alert("null_rate")]
    out = run_stages(alerts, ctx)
    assert [a.fingerprint for a in out] == [root.fingerprint] and out[0].routed is not None
    assert run_stages(alerts, ctx, stages=[inhibit]) == [alerts[0], alerts[2]]


def test_messages_carry_a_stable_idempotency_key_in_their_payload(tmp_path: Path, clock: ManualClock) -> None:
    cfg = config(tmp_path)
    routed = _routed(cfg, clock, [alert("unit_change", incident_id="inc-1"), alert("null_rate")])
    ctx = ctx_for(cfg, clock)
    first, again = messages_for(routed, ctx), messages_for(routed, ctx)
    assert len(first) == 1 and first[0].key == again[0].key and first[0].key.startswith("vigil-")
    assert first[0].payload["idempotencyKey"] == first[0].key
    assert first[0].incidents == ("inc-1",)
    clock.advance(timedelta(minutes=5))
    assert messages_for(routed, ctx_for(cfg, clock))[0].key != first[0].key  # a later decision is a new message


def test_decide_writes_the_outbox_and_silence_marks_and_sends_nothing(tmp_path: Path, clock: ManualClock) -> None:
    cfg = config(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, [result("unit_change", "applications.income", 1), result("null_rate", "bureau.credit_score", 1)], clock)
    s = add_silence(ops, clock, matchers=["check=null_rate"], ends_at=clock.now() + timedelta(hours=1), author="ana", comment="known")
    written = decide(cfg, ops, clock)
    assert [m.firing for m in written] == [(written[0].firing[0],)] and written[0].state == "pending"
    assert [m.key for m in outbox.messages(ops, state="pending")] == [written[0].key]
    marks = {r["check_name"]: r["silenced_by"] for r in ops.query("SELECT check_name, silenced_by FROM alerts")}
    assert marks == {"unit_change": None, "null_rate": s.silence_id}
    assert ops.query("SELECT * FROM notifications") == []  # deciding sends nothing
    assert decide(cfg, ops, clock) == []  # decided once: the pending message counts as told
