from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from core.registry import (
    CHALLENGER,
    CHAMPION,
    ApprovalError,
    PromotionRefused,
    Registry,
    RegistryError,
    RollbackRefused,
    VersionNotFound,
    compare_evaluations,
)
from core.stores import OpsStore


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(OpsStore(tmp_path / "ops.sqlite"), ManualClock(datetime(2026, 3, 1, tzinfo=UTC)))


def _register(reg: Registry, tmp_path: Path, auc: float, holdout: str = "h1", brier: float = 0.1) -> int:
    artifact = tmp_path / f"model-{auc}-{holdout}.joblib"
    artifact.write_bytes(b"not a real model: the registry only records it")
    mv = reg.register(
        "m", run_id=f"run-{auc}", data_version="d1", environment={"python": "3.11"},
        evaluation={"holdout_id": holdout, "metrics": {"roc_auc": auc, "brier": brier}},
        artifact_path=str(artifact), artifact_sha256="x" * 64, user="alice",
    )
    return mv.version


def _champion(reg: Registry) -> int | None:
    mv = reg.champion("m")
    return None if mv is None else mv.version


def test_register_gives_increasing_immutable_pending_versions(registry: Registry, tmp_path: Path) -> None:
    v1 = _register(registry, tmp_path, 0.75)
    v2 = _register(registry, tmp_path, 0.76)
    assert (v1, v2) == (1, 2)
    mv = registry.get("m", 1)
    assert (mv.approval_state, mv.run_id, mv.created_by, mv.deployment_target) == ("pending", "run-0.75", "alice", "batch_scoring")
    registry.approve("m", 1, "bob", "looks good")  # installs the guards
    with registry.ops.transaction() as conn, pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE model_versions SET run_id = 'forged' WHERE version = 1")
    with registry.ops.transaction() as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM registry_events")
    assert registry.get("m", 1).run_id == "run-0.75"


def test_approval_records_who_when_why_and_rules(registry: Registry, tmp_path: Path) -> None:
    _register(registry, tmp_path, 0.75)
    mv = registry.approve("m", 1, "bob", "holdout metrics reviewed")
    assert (mv.approval_state, mv.approved_by, mv.approval_reason) == ("approved", "bob", "holdout metrics reviewed")
    assert mv.approved_at == "2026-03-01T00:00:00+00:00"
    with pytest.raises(ApprovalError, match="not pending"):
        registry.approve("m", 1, "bob", "again")
    with pytest.raises(ApprovalError, match="needs a reason"):
        registry.reject("m", 1, "bob", "  ")
    assert registry.reject("m", 1, "carol", "leaks a feature").approval_state == "rejected"
    with pytest.raises(VersionNotFound, match="has no version 9"):
        registry.approve("m", 9, "bob", "x")


def test_promotion_refused_unless_approved_and_no_worse(registry: Registry, tmp_path: Path) -> None:
    _register(registry, tmp_path, 0.75)
    registry.approve("m", 1, "bob", "ok")
    registry.promote("m", 1, "bob", "first champion")
    assert _champion(registry) == 1

    _register(registry, tmp_path, 0.74)  # v2: worse by 0.01
    with pytest.raises(PromotionRefused, match="pending, not approved"):
        registry.promote("m", 2, "bob", "try")
    registry.approve("m", 2, "bob", "ok")
    with pytest.raises(PromotionRefused, match=r"worse than champion v1: roc_auc 0.7400 vs champion 0.7500 \(worse by more than the margin 0.005\)"):
        registry.promote("m", 2, "bob", "try", margin=0.005)
    # Within a larger margin it is allowed.
    registry.promote("m", 2, "bob", "accept a small loss for a simpler model", margin=0.02)
    assert _champion(registry) == 2

    _register(registry, tmp_path, 0.90, holdout="other")  # v3, different holdout
    registry.approve("m", 3, "bob", "ok")
    with pytest.raises(PromotionRefused, match="different holdouts"):
        registry.promote("m", 3, "bob", "try")
    with pytest.raises(PromotionRefused, match="already the champion"):
        registry.promote("m", 2, "bob", "again")
    # Lower-is-better metrics compare the other way.
    _register(registry, tmp_path, 0.80, brier=0.2)  # v4 has a much worse brier
    registry.approve("m", 4, "bob", "ok")
    with pytest.raises(PromotionRefused, match="brier 0.2000 vs champion 0.1000"):
        registry.promote("m", 4, "bob", "try", metric="brier", margin=0.01)
    assert _champion(registry) == 2
    kinds = [e.kind for e in registry.events("m")]
    assert kinds.count("promote") == 2


def test_promotion_moves_previous_champion_to_challenger_slot(registry: Registry, tmp_path: Path) -> None:
    for auc in (0.75, 0.77):
        v = _register(registry, tmp_path, auc)
        registry.approve("m", v, "bob", "ok")
    registry.promote("m", 1, "bob", "first")
    registry.set_alias("m", CHALLENGER, 2, "bob", "shadow it")
    registry.promote("m", 2, "bob", "challenger won")
    assert _champion(registry) == 2
    challenger = registry.alias("m", CHALLENGER)
    assert challenger is not None and challenger.version == 1


def test_rollback_and_its_reversal_are_append_only_events(registry: Registry, tmp_path: Path) -> None:
    for auc in (0.75, 0.76, 0.77):
        v = _register(registry, tmp_path, auc)
        registry.approve("m", v, "bob", "ok")
    registry.promote("m", 1, "bob", "v1")
    registry.promote("m", 2, "bob", "v2")
    registry.promote("m", 3, "bob", "v3")
    n_events = len(registry.events("m"))

    rb = registry.rollback("m", "carol", "default rate up after v3")
    assert (rb.kind, rb.from_version, rb.to_version, rb.actor, rb.reason) == (
        "rollback", 3, 2, "carol", "default rate up after v3")
    assert _champion(registry) == 2
    # Reverse the rollback: champion goes back to v3, as a new event pointing at the old one.
    rev = registry.revert(rb.event_id, "dave", "false alarm: upstream fixed")
    assert (rev.kind, rev.from_version, rev.to_version, rev.reverts_event_id) == ("revert", 2, 3, rb.event_id)
    assert _champion(registry) == 3
    # Nothing was rewritten: every move is still in the history.
    events = registry.events("m")
    assert len(events) == n_events + 2
    assert [e.kind for e in events[:2]] == ["revert", "rollback"]
    # A revert is itself reversible.
    registry.revert(rev.event_id, "erin", "it was not a false alarm")
    assert _champion(registry) == 2
    # An explicit target works; an unapproved or newer one is refused.
    registry.rollback("m", "carol", "back to the first", to_version=1)
    assert _champion(registry) == 1
    with pytest.raises(RollbackRefused, match="newer than champion"):
        registry.rollback("m", "carol", "x", to_version=3)
    with pytest.raises(RegistryError, match="has moved since event"):
        registry.revert(rb.event_id, "dave", "stale revert")


def test_rollback_refusals(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RollbackRefused, match="no champion"):
        registry.rollback("m", "bob", "x")
    _register(registry, tmp_path, 0.75)
    _register(registry, tmp_path, 0.76)
    registry.approve("m", 2, "bob", "ok")
    registry.promote("m", 2, "bob", "first")
    with pytest.raises(RollbackRefused, match="no earlier champion"):
        registry.rollback("m", "bob", "x")
    with pytest.raises(RollbackRefused, match="pending, not approved"):
        registry.rollback("m", "bob", "x", to_version=1)
    with pytest.raises(ApprovalError, match="is the champion"):
        registry.reject("m", 2, "bob", "reject the champion")


def test_champion_needs_an_approved_version(registry: Registry, tmp_path: Path) -> None:
    _register(registry, tmp_path, 0.75)
    with pytest.raises(PromotionRefused, match="only approved versions can be champion"):
        registry.set_alias("m", CHAMPION, 1, "bob", "skip approval")
    with pytest.raises(RegistryError, match="unknown alias"):
        registry.set_alias("m", "prod", 1, "bob", "x")


def test_compare_evaluations_is_a_pure_rule() -> None:
    champ: dict[str, Any] = {"holdout_id": "h", "metrics": {"roc_auc": 0.75}}
    assert compare_evaluations({"holdout_id": "h", "metrics": {"roc_auc": 0.751}}, champ, "roc_auc", 0.0)[0]
    assert not compare_evaluations({"holdout_id": "h", "metrics": {"roc_auc": 0.74}}, champ, "roc_auc", 0.005)[0]
    ok, why = compare_evaluations({"holdout_id": "h", "metrics": {}}, champ, "roc_auc", 0.0)
    assert not ok and "missing" in why


def test_promotion_rule_is_stored_with_the_version_and_used_by_promote(registry: Registry, tmp_path: Path) -> None:
    from core.registry import PromotionRule

    _register(registry, tmp_path, 0.75)
    registry.approve("m", 1, "bob", "ok")
    registry.promote("m", 1, "bob", "first champion")
    artifact = tmp_path / "strict.joblib"
    artifact.write_bytes(b"x")
    mv = registry.register(
        "m", run_id="run-strict", data_version="d1", environment={},
        evaluation={"holdout_id": "h1", "metrics": {"roc_auc": 0.745, "brier": 0.1}},
        artifact_path=str(artifact), artifact_sha256="x" * 64, user="alice",
        promotion=PromotionRule(metric="roc_auc", margin=0.01),
    )
    assert registry.get("m", mv.version).promotion == PromotionRule("roc_auc", 0.01)
    assert registry.get("m", 1).promotion == PromotionRule()  # registered without one: the default rule
    assert registry.get("m", mv.version).to_dict()["promotion"] == {"metric": "roc_auc", "margin": 0.01}
    registry.approve("m", mv.version, "bob", "ok")
    # 0.745 is within the stored margin 0.01 of 0.75: promoted without passing metric / margin.
    event = registry.promote("m", mv.version, "bob", "within its rule")
    assert event.details == {"evaluation": "roc_auc 0.7450 vs champion 0.7500 (no worse than the margin 0.01 allows)",
                             "metric": "roc_auc", "margin": 0.01}
    with registry.ops.transaction() as conn, pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE model_promotion_rules SET margin = 1.0")
