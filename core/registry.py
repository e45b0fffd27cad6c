"""Model registry over the ops store (SQLite): immutable versions, approvals, aliases, events.

Model-agnostic: it records what a trainer registers (evaluation, artifact path and sha256,
the promotion rule) and never imports training or serving code. Loading an artifact is the
model's business (``baseline_model.artifact.load_artifact`` for the example);
``verify_artifact`` checks the file is the one registered.

- A registered version never changes (guard triggers refuse UPDATE / DELETE).
- Approval is an append-only decision (approved / rejected, who, when, why).
- Aliases (`champion`, `challenger`) point at versions; every move is an append-only
  registry event (who, when, why, from -> to) and can itself be reverted.
- Promotion to champion needs approval and an evaluation on the same holdout that is
  no worse than the champion's: the metric and margin of the candidate's promotion rule,
  stored with the version when it is registered (or passed to ``promote``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import audit
from core.clock import Clock, SystemClock, iso
from core.ids import sha256_file
from core.stores import OpsStore

CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
# Metrics where a lower value is better; all others are higher-is-better. The one list: the
# promotion gate, shadow evaluation and the model adapters (core.adapter) all read it.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"brier", "ece", "default_rate_approved", "log_loss", "mae", "rmse", "rmsle", "mape"}
)

# Installed from code: the migration runner splits files on ';', which trigger bodies need.
_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS model_versions_immutable_u BEFORE UPDATE ON model_versions "
    "BEGIN SELECT RAISE(ABORT, 'model versions are immutable: register a new version'); END",
    "CREATE TRIGGER IF NOT EXISTS model_versions_immutable_d BEFORE DELETE ON model_versions "
    "BEGIN SELECT RAISE(ABORT, 'model versions are immutable: register a new version'); END",
    "CREATE TRIGGER IF NOT EXISTS registry_events_append_only_u BEFORE UPDATE ON registry_events "
    "BEGIN SELECT RAISE(ABORT, 'registry events are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS registry_events_append_only_d BEFORE DELETE ON registry_events "
    "BEGIN SELECT RAISE(ABORT, 'registry events are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS model_approvals_append_only_u BEFORE UPDATE ON model_approvals "
    "BEGIN SELECT RAISE(ABORT, 'approval decisions are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS model_promotion_rules_immutable_u BEFORE UPDATE ON model_promotion_rules "
    "BEGIN SELECT RAISE(ABORT, 'model versions are immutable: register a new version'); END",
    "CREATE TRIGGER IF NOT EXISTS model_promotion_rules_immutable_d BEFORE DELETE ON model_promotion_rules "
    "BEGIN SELECT RAISE(ABORT, 'model versions are immutable: register a new version'); END",
)


class RegistryError(RuntimeError):
    """A registry action was refused or referred to something that does not exist."""


class VersionNotFound(RegistryError):
    pass


class ApprovalError(RegistryError):
    pass


class PromotionRefused(RegistryError):
    pass


class RollbackRefused(RegistryError):
    pass


@dataclass(frozen=True)
class PromotionRule:
    """What a candidate must meet to replace the champion: ``metric`` no worse than the
    champion's by more than ``margin`` (on the same holdout). Stored with each version."""

    metric: str = "roc_auc"
    margin: float = 0.0


DEFAULT_PROMOTION_RULE = PromotionRule()


@dataclass(frozen=True)
class ModelVersion:
    model_name: str
    version: int
    run_id: str
    data_version: str
    environment: dict[str, Any]
    evaluation: dict[str, Any]
    artifact_path: str
    artifact_sha256: str
    config_path: str | None
    deployment_target: str
    description: str | None
    created_by: str
    created_at: str
    approval_state: str = "pending"
    approved_by: str | None = None
    approved_at: str | None = None
    approval_reason: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)
    # Versions registered before rules were stored carry the default rule.
    promotion: PromotionRule = DEFAULT_PROMOTION_RULE

    def to_dict(self) -> dict[str, Any]:
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        out["promotion"] = asdict(self.promotion)
        return out


@dataclass(frozen=True)
class RegistryEvent:
    event_id: int
    model_name: str
    kind: str
    version: int | None
    alias: str | None
    from_version: int | None
    to_version: int | None
    actor: str
    at: str
    reason: str
    details: dict[str, Any]
    reverts_event_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _event(row: sqlite3.Row | dict[str, Any]) -> RegistryEvent:
    d = dict(row)
    d["details"] = json.loads(d["details"]) if d.get("details") else {}
    return RegistryEvent(**d)


def compare_evaluations(
    candidate: dict[str, Any], champion: dict[str, Any], metric: str, margin: float
) -> tuple[bool, str]:
    """Is the candidate no worse than the champion on `metric` (within `margin`)?

    Both evaluations must come from the same holdout (same `holdout_id`).
    """
    if candidate.get("holdout_id") != champion.get("holdout_id"):
        return False, (
            f"evaluated on different holdouts (candidate {candidate.get('holdout_id')}, "
            f"champion {champion.get('holdout_id')}): retrain both on the same snapshot to compare"
        )
    cand = (candidate.get("metrics") or {}).get(metric)
    champ = (champion.get("metrics") or {}).get(metric)
    if cand is None or champ is None:
        return False, f"metric {metric!r} is missing from an evaluation (candidate {cand}, champion {champ})"
    lower_better = metric in LOWER_IS_BETTER
    ok = cand <= champ + margin if lower_better else cand >= champ - margin
    better = cand < champ if lower_better else cand > champ
    if not ok:
        rel = f"worse by more than the margin {margin}"
    elif better:
        rel = "better"
    else:
        rel = f"no worse than the margin {margin} allows"
    return ok, f"{metric} {cand:.4f} vs champion {champ:.4f} ({rel})"


class Registry:
    """The model registry. Every write is one ops-store transaction."""

    def __init__(self, ops: OpsStore, clock: Clock | None = None) -> None:
        self.ops = ops
        self.clock = clock or SystemClock()
        self._guarded = False

    # ---- helpers ------------------------------------------------------
    def _tx(self) -> Any:
        if not self._guarded:
            with self.ops.transaction() as conn:
                for stmt in _GUARDS:
                    conn.execute(stmt)
            self._guarded = True
        return self.ops.transaction()

    def _now(self) -> str:
        return iso(self.clock.now())

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, **values: Any) -> int:
        values.setdefault("details", None)
        if isinstance(values["details"], dict):
            values["details"] = json.dumps(values["details"], sort_keys=True)
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cur = conn.execute(f"INSERT INTO registry_events ({cols}) VALUES ({marks})", tuple(values.values()))  # noqa: S608 - fixed column names
        return int(cur.lastrowid or 0)

    def _load(self, conn: sqlite3.Connection, model_name: str, version: int) -> ModelVersion:
        row = conn.execute(
            "SELECT * FROM model_versions WHERE model_name = ? AND version = ?", (model_name, version)
        ).fetchone()
        if row is None:
            known = [r[0] for r in conn.execute(
                "SELECT version FROM model_versions WHERE model_name = ? ORDER BY version", (model_name,)
            )]
            raise VersionNotFound(
                f"model {model_name!r} has no version {version} "
                f"(registered: {', '.join(map(str, known)) or 'none'}; hint: `vigil registry list`)"
            )
        d = dict(row)
        d["environment"] = json.loads(d["environment"])
        d["evaluation"] = json.loads(d["evaluation"])
        appr = conn.execute(
            "SELECT state, decided_by, decided_at, reason FROM model_approvals "
            "WHERE model_name = ? AND version = ? ORDER BY approval_id DESC LIMIT 1",
            (model_name, version),
        ).fetchone()
        if appr is not None:
            d.update(
                approval_state=appr["state"],
                approved_by=appr["decided_by"],
                approved_at=appr["decided_at"],
                approval_reason=appr["reason"],
            )
        aliases = [r[0] for r in conn.execute(
            "SELECT alias FROM model_aliases WHERE model_name = ? AND version = ? ORDER BY alias", (model_name, version)
        )]
        d["aliases"] = tuple(aliases)
        rule = conn.execute(
            "SELECT metric, margin FROM model_promotion_rules WHERE model_name = ? AND version = ?",
            (model_name, version),
        ).fetchone()
        if rule is not None:
            d["promotion"] = PromotionRule(metric=str(rule["metric"]), margin=float(rule["margin"]))
        return ModelVersion(**d)

    def _alias_version(self, conn: sqlite3.Connection, model_name: str, alias: str) -> int | None:
        row = conn.execute(
            "SELECT version FROM model_aliases WHERE model_name = ? AND alias = ?", (model_name, alias)
        ).fetchone()
        return None if row is None else int(row[0])

    # ---- reads --------------------------------------------------------
    def get(self, model_name: str, version: int) -> ModelVersion:
        with self.ops.read() as conn:
            return self._load(conn, model_name, version)

    def versions(self, model_name: str) -> list[ModelVersion]:
        with self.ops.read() as conn:
            nums = [r[0] for r in conn.execute(
                "SELECT version FROM model_versions WHERE model_name = ? ORDER BY version", (model_name,)
            )]
            return [self._load(conn, model_name, v) for v in nums]

    def model_names(self) -> list[str]:
        return [r["model_name"] for r in self.ops.query(
            "SELECT DISTINCT model_name FROM model_versions ORDER BY model_name"
        )]

    def alias(self, model_name: str, alias: str) -> ModelVersion | None:
        with self.ops.read() as conn:
            v = self._alias_version(conn, model_name, alias)
            return None if v is None else self._load(conn, model_name, v)

    def champion(self, model_name: str) -> ModelVersion | None:
        return self.alias(model_name, CHAMPION)

    def events(self, model_name: str, limit: int | None = None) -> list[RegistryEvent]:
        sql = "SELECT * FROM registry_events WHERE model_name = ? ORDER BY event_id DESC"
        params: tuple[Any, ...] = (model_name,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (model_name, int(limit))
        return [_event(r) for r in self.ops.query(sql, params)]

    def event(self, event_id: int) -> RegistryEvent:
        rows = self.ops.query("SELECT * FROM registry_events WHERE event_id = ?", (event_id,))
        if not rows:
            raise RegistryError(f"no registry event {event_id} (hint: `vigil registry history`)")
        return _event(rows[0])

    # ---- writes -------------------------------------------------------
    def register(
        self,
        model_name: str,
        *,
        run_id: str,
        data_version: str,
        environment: dict[str, Any],
        evaluation: dict[str, Any],
        artifact_path: str,
        artifact_sha256: str,
        config_path: str | None = None,
        deployment_target: str = "batch_scoring",
        description: str | None = None,
        user: str = "system",
        promotion: PromotionRule | None = None,
    ) -> ModelVersion:
        """Register a new immutable version (pending approval) with its promotion rule; returns it.

        Without ``promotion`` the rule is the evaluation's ``promotion: {metric, margin}`` if it
        carries one (what a model adapter reports), else the default rule.
        """
        rule = promotion or promotion_rule_in(evaluation) or DEFAULT_PROMOTION_RULE
        if not Path(artifact_path).exists():
            raise RegistryError(f"artifact {artifact_path} does not exist (hint: train first: `vigil train --config ...`)")
        with self._tx() as conn:
            row = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_name = ?", (model_name,)
            ).fetchone()
            version = int(row[0])
            now = self._now()
            conn.execute(
                "INSERT INTO model_versions (model_name, version, run_id, data_version, environment, evaluation, "
                "artifact_path, artifact_sha256, config_path, deployment_target, description, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    model_name, version, run_id, data_version, json.dumps(environment, sort_keys=True),
                    json.dumps(evaluation, sort_keys=True), str(artifact_path), artifact_sha256, config_path,
                    deployment_target, description, user, now,
                ),
            )
            conn.execute(
                "INSERT INTO model_promotion_rules (model_name, version, metric, margin) VALUES (?, ?, ?, ?)",
                (model_name, version, rule.metric, float(rule.margin)),
            )
            self._insert_event(
                conn, model_name=model_name, kind="register", version=version, actor=user, at=now,
                reason=description or f"registered from run {run_id}", details={"run_id": run_id},
            )
            audit.record(
                conn, user, "registry.register", f"{model_name} v{version}", None,
                {"run_id": run_id, "approval_state": "pending", "artifact_sha256": artifact_sha256}, clock=self.clock,
            )
            return self._load(conn, model_name, version)

    def _decide(self, model_name: str, version: int, state: str, user: str, reason: str) -> ModelVersion:
        if not reason.strip():
            raise ApprovalError(f"deciding on version {version} needs a reason (hint: --reason '...')")
        with self._tx() as conn:
            mv = self._load(conn, model_name, version)
            if state == "approved" and mv.approval_state != "pending":
                raise ApprovalError(
                    f"{model_name} v{version} is {mv.approval_state}, not pending: only pending versions can be approved"
                )
            if state == "rejected":
                if mv.approval_state == "rejected":
                    raise ApprovalError(f"{model_name} v{version} is already rejected")
                if CHAMPION in mv.aliases:
                    raise ApprovalError(
                        f"{model_name} v{version} is the champion: roll back or promote another version before rejecting it"
                    )
            now = self._now()
            conn.execute(
                "INSERT INTO model_approvals (model_name, version, state, decided_by, decided_at, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (model_name, version, state, user, now, reason),
            )
            self._insert_event(
                conn, model_name=model_name, kind="approve" if state == "approved" else "reject",
                version=version, actor=user, at=now, reason=reason,
            )
            audit.record(
                conn, user, "registry.approve" if state == "approved" else "registry.reject",
                f"{model_name} v{version}", {"approval_state": mv.approval_state},
                {"approval_state": state, "reason": reason}, clock=self.clock,
            )
            return self._load(conn, model_name, version)

    def approve(self, model_name: str, version: int, user: str, reason: str) -> ModelVersion:
        return self._decide(model_name, version, "approved", user, reason)

    def reject(self, model_name: str, version: int, user: str, reason: str) -> ModelVersion:
        return self._decide(model_name, version, "rejected", user, reason)

    def _move_alias(
        self,
        conn: sqlite3.Connection,
        model_name: str,
        alias: str,
        to_version: int | None,
        *,
        kind: str,
        user: str,
        reason: str,
        details: dict[str, Any] | None = None,
        reverts_event_id: int | None = None,
    ) -> int:
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r} (hint: one of {', '.join(ALIASES)})")
        if not reason.strip():
            raise RegistryError(f"moving alias {alias!r} needs a reason (hint: --reason '...')")
        from_version = self._alias_version(conn, model_name, alias)
        now = self._now()
        if to_version is None:
            conn.execute("DELETE FROM model_aliases WHERE model_name = ? AND alias = ?", (model_name, alias))
        else:
            conn.execute(
                "INSERT INTO model_aliases (model_name, alias, version, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (model_name, alias) DO UPDATE SET version = excluded.version, "
                "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (model_name, alias, to_version, now, user),
            )
        event_id = self._insert_event(
            conn, model_name=model_name, kind=kind, alias=alias, version=to_version, from_version=from_version,
            to_version=to_version, actor=user, at=now, reason=reason, details=details,
            reverts_event_id=reverts_event_id,
        )
        audit.record(
            conn, user, f"registry.{kind}", f"{model_name}@{alias}", {"version": from_version},
            {"version": to_version, "reason": reason, "registry_event": event_id}, clock=self.clock,
        )
        return event_id

    def set_alias(self, model_name: str, alias: str, version: int | None, user: str, reason: str) -> RegistryEvent:
        """Point an alias at a version (None removes it). Champion needs an approved version."""
        with self._tx() as conn:
            if version is not None:
                mv = self._load(conn, model_name, version)
                if alias == CHAMPION and mv.approval_state != "approved":
                    raise PromotionRefused(
                        f"{model_name} v{version} is {mv.approval_state}: only approved versions can be champion "
                        f"(hint: `vigil registry approve {version} --reason ...`)"
                    )
            eid = self._move_alias(
                conn, model_name, alias, version, kind="alias_set" if version is not None else "alias_removed",
                user=user, reason=reason,
            )
        return self.event(eid)

    def check_promotion(self, model_name: str, version: int, metric: str = "roc_auc", margin: float = 0.0) -> str:
        """Why `version` may become champion; raises PromotionRefused with the reason otherwise."""
        with self.ops.read() as conn:
            return self._check_promotion(conn, model_name, version, metric, margin)

    def _check_promotion(
        self, conn: sqlite3.Connection, model_name: str, version: int, metric: str, margin: float
    ) -> str:
        mv = self._load(conn, model_name, version)
        if mv.approval_state != "approved":
            raise PromotionRefused(
                f"{model_name} v{version} is {mv.approval_state}, not approved "
                f"(hint: `vigil registry approve {version} --reason ...` first)"
            )
        current = self._alias_version(conn, model_name, CHAMPION)
        if current == version:
            raise PromotionRefused(f"{model_name} v{version} is already the champion")
        if current is None:
            return "no current champion"
        champ = self._load(conn, model_name, current)
        ok, why = compare_evaluations(mv.evaluation, champ.evaluation, metric, margin)
        if not ok:
            raise PromotionRefused(f"{model_name} v{version} is worse than champion v{current}: {why}")
        return why

    def promote(
        self,
        model_name: str,
        version: int,
        user: str,
        reason: str,
        *,
        metric: str | None = None,
        margin: float | None = None,
    ) -> RegistryEvent:
        """Make `version` the champion if approved and no worse than the champion on the same holdout.

        metric / margin default to the candidate's stored promotion rule.
        The previous champion becomes the challenger (kept warm for a rollback).
        """
        if metric is None or margin is None:
            rule = self.get(model_name, version).promotion
            metric = metric if metric is not None else rule.metric
            margin = margin if margin is not None else rule.margin
        with self._tx() as conn:
            why = self._check_promotion(conn, model_name, version, metric, margin)
            previous = self._alias_version(conn, model_name, CHAMPION)
            eid = self._move_alias(
                conn, model_name, CHAMPION, version, kind="promote", user=user, reason=reason,
                details={"evaluation": why, "metric": metric, "margin": margin},
            )
            if self._alias_version(conn, model_name, CHALLENGER) == version:
                self._move_alias(
                    conn, model_name, CHALLENGER, previous, kind="alias_set" if previous else "alias_removed",
                    user=user, reason=f"previous champion after promotion of v{version}",
                )
        return self.event(eid)

    def rollback(
        self, model_name: str, user: str, reason: str, to_version: int | None = None
    ) -> RegistryEvent:
        """Move champion back to an earlier approved version (default: the previous champion)."""
        with self._tx() as conn:
            current = self._alias_version(conn, model_name, CHAMPION)
            if current is None:
                raise RollbackRefused(f"{model_name} has no champion to roll back")
            if to_version is None:
                rows = conn.execute(
                    "SELECT from_version FROM registry_events WHERE model_name = ? AND alias = ? "
                    "AND to_version = ? AND from_version IS NOT NULL ORDER BY event_id DESC",
                    (model_name, CHAMPION, current),
                ).fetchall()
                candidates = [int(r[0]) for r in rows if int(r[0]) != current]
                if not candidates:
                    raise RollbackRefused(
                        f"{model_name}: champion v{current} has no earlier champion to roll back to "
                        "(hint: pass --to VERSION)"
                    )
                to_version = candidates[0]
            if to_version == current:
                raise RollbackRefused(f"{model_name} v{to_version} is already the champion")
            if to_version > current:
                raise RollbackRefused(
                    f"v{to_version} is newer than champion v{current}: a rollback goes to an earlier version "
                    "(hint: use `vigil registry promote`)"
                )
            target = self._load(conn, model_name, to_version)
            if target.approval_state != "approved":
                raise RollbackRefused(f"{model_name} v{to_version} is {target.approval_state}, not approved")
            eid = self._move_alias(conn, model_name, CHAMPION, to_version, kind="rollback", user=user, reason=reason)
        return self.event(eid)

    def revert(self, event_id: int, user: str, reason: str) -> RegistryEvent:
        """Undo an alias move: the alias goes back to the event's from-version (a new event)."""
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM registry_events WHERE event_id = ?", (event_id,)).fetchone()
            if row is None:
                raise RegistryError(f"no registry event {event_id} (hint: `vigil registry history`)")
            ev = _event(row)
            if ev.alias is None:
                raise RegistryError(f"event {event_id} ({ev.kind}) did not move an alias: nothing to revert")
            current = self._alias_version(conn, ev.model_name, ev.alias)
            if current != ev.to_version:
                raise RegistryError(
                    f"{ev.alias} has moved since event {event_id} (now v{current}, event set v{ev.to_version}): "
                    "revert the later move first"
                )
            if ev.from_version is not None and ev.alias == CHAMPION:
                back = self._load(conn, ev.model_name, ev.from_version)
                if back.approval_state != "approved":
                    raise RegistryError(f"v{ev.from_version} is {back.approval_state}: it cannot be champion again")
            eid = self._move_alias(
                conn, ev.model_name, ev.alias, ev.from_version, kind="revert", user=user, reason=reason,
                reverts_event_id=event_id,
            )
        return self.event(eid)


def promotion_rule_in(evaluation: dict[str, Any]) -> PromotionRule | None:
    """The ``promotion: {metric, margin}`` an evaluation carries, if any."""
    rule = evaluation.get("promotion")
    if isinstance(rule, dict) and rule.get("metric"):
        return PromotionRule(metric=str(rule["metric"]), margin=float(rule.get("margin") or 0.0))
    return None


def promotion_rule(mv: ModelVersion) -> tuple[str, float]:
    """(metric, margin) a candidate version must meet against the champion."""
    return mv.promotion.metric, mv.promotion.margin


def verify_artifact(mv: ModelVersion) -> Path:
    """The version's artifact file, after checking it exists and is the file registered (sha256)."""
    path = Path(mv.artifact_path)
    if not path.exists():
        raise RegistryError(f"{mv.model_name} v{mv.version}: artifact {path} is missing (hint: `vigil reproduce {mv.version}`)")
    digest = sha256_file(str(path))
    if digest != mv.artifact_sha256:
        raise RegistryError(
            f"{mv.model_name} v{mv.version}: artifact {path} has sha256 {digest[:12]}..., "
            f"registered {mv.artifact_sha256[:12]}...: the file was changed after registration"
        )
    return path
