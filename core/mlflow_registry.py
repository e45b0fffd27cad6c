"""An MLflow Model Registry as Vigil's model registry (`registry: {kind: mlflow, tracking_uri: ...}`).

Versions, their run metrics and their aliases are read from MLflow (alias API of MLflow >= 2.9:
`set_registered_model_alias`, `get_model_version_by_alias`). Promote, rollback and revert move
the `champion` / `challenger` aliases there; every move is also an append-only row in Vigil's
`registry_events` and audit trail, written in the same ops-store transaction as the MLflow
call, so a move MLflow refused or could not receive is recorded nowhere (and an unreachable
MLflow changes nothing). Approval, which MLflow has no notion of, is kept as version tags
(`vigil.approval`) and Vigil events.

A version's artifact is its alias URI when it holds one (`models:/<name>@champion`,
`models:/<name>@challenger`), else `models:/<name>/<version>`: the scorer and shadow
evaluation load what the alias points at.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import audit
from core.clock import Clock, SystemClock, iso
from core.registry import RegistryEvent, compare_evaluations
from core.stores import OpsStore, StoreUnavailable

CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
EVALUATION_TAG = "vigil.evaluation"
APPROVAL_TAG = "vigil.approval"


class MlflowRegistryError(RuntimeError):
    """MLflow refused a registry action, or it referred to something that does not exist."""


class MlflowUnavailable(MlflowRegistryError, StoreUnavailable):
    """MLflow could not be reached; nothing was changed. A store that is unavailable: `vigil`
    exits 3 with the message, as for the ops store and the warehouse."""


@dataclass(frozen=True)
class MlflowVersion:
    model_name: str
    version: int
    run_id: str
    data_version: str
    environment: dict[str, Any]
    evaluation: dict[str, Any]
    artifact_path: str  # models:/ URI (the alias URI when the version holds one)
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
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


# Registry events are the embedded registry's own records (same table, same fields).
MlflowRegistryEvent = RegistryEvent


def _event(row: dict[str, Any]) -> MlflowRegistryEvent:
    d = dict(row)
    d["details"] = json.loads(d["details"]) if d.get("details") else {}
    return MlflowRegistryEvent(**d)


def _skops_trust(estimator: Any) -> dict[str, Any]:
    """MLflow saves scikit-learn models with skops and asks which types to trust: the estimator's
    own scikit-learn / numpy / scipy types (anything else is left untrusted, and MLflow refuses)."""
    try:
        import skops.io as sio
    except ImportError:
        return {}
    from core.sklearn_adapter import SKOPS_TRUSTED_PREFIXES

    types = [t for t in sio.get_untrusted_types(data=sio.dumps(estimator)) if t.startswith(SKOPS_TRUSTED_PREFIXES)]
    return {"skops_trusted_types": types} if types else {}


def _pip_requirements(mlflow: Any) -> list[str]:
    """The logged model's requirements, pinned to what is installed: scikit-learn (and cloudpickle)
    as MLflow's own defaults say, plus skops, which MLflow saves scikit-learn models with. Given
    explicitly, MLflow skips inferring them, which loads the model in a subprocess (seconds per model)."""
    pins = list(mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True))
    try:
        import skops
    except ImportError:
        return pins
    return [*pins, f"skops=={skops.__version__}"]


class MlflowRegistry:
    """Vigil's registry interface over an MLflow Model Registry; events and audit in the ops store."""

    def _experiment_id(self, mlflow: Any, name: str) -> str:
        """The experiment Vigil logs candidates to, created on first use. With a local SQLite
        store, its artifacts go beside the database (``mlartifacts/``), not into ./mlruns of
        whatever folder the process runs in."""
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = None
        if self.tracking_uri.startswith("sqlite:///"):
            location = (Path(self.tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
        return str(mlflow.create_experiment(name, artifact_location=location))

    def __init__(self, tracking_uri: str, ops: OpsStore, clock: Clock | None = None, *, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.ops = ops
        self.clock = clock or SystemClock()
        self._client_obj: Any = None

    # ---- the MLflow client ------------------------------------------------------------------
    def _client(self) -> Any:
        if self._client_obj is None:
            # Fail fast when the server is down instead of MLflow's default minutes of retries.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
            try:
                from mlflow import MlflowClient
            except ImportError:
                raise MlflowRegistryError(
                    "registry kind 'mlflow' needs MLflow installed (hint: pip install 'vigil[mlflow]')"
                ) from None
            self._client_obj = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        return self._client_obj

    def _call(self, what: str, method: str, *args: Any, missing_ok: bool = False) -> Any:
        try:
            return getattr(self._client(), method)(*args)
        except MlflowRegistryError:
            raise
        except Exception as err:  # MlflowException, connection errors, a broken SQL store
            code = getattr(err, "error_code", None)
            if code == "RESOURCE_DOES_NOT_EXIST" or "RESOURCE_DOES_NOT_EXIST" in str(code or ""):
                if missing_ok:
                    return None
                raise MlflowRegistryError(f"MLflow has no {what} (hint: `vigil registry list`)") from None
            if code in ("INVALID_PARAMETER_VALUE",) and missing_ok and "alias" in str(err).lower():
                return None
            raise MlflowUnavailable(
                f"MLflow at {self.registry_uri} failed while {what}: {type(err).__name__}: {str(err)[:300]} "
                "(hint: check registry.tracking_uri and that the MLflow server or store is reachable; nothing was changed)"
            ) from None

    @staticmethod
    def _check_name(model_name: str) -> None:
        if "'" in model_name or "\\" in model_name:
            raise MlflowRegistryError(f"model name {model_name!r} has a quote or backslash (hint: rename it)")

    # ---- reads ------------------------------------------------------------------------------
    def _version(self, mv: Any) -> MlflowVersion:
        tags = dict(getattr(mv, "tags", None) or {})
        aliases = tuple(sorted(a for a in (getattr(mv, "aliases", None) or [])))
        evaluation: dict[str, Any]
        if tags.get(EVALUATION_TAG):
            evaluation = json.loads(tags[EVALUATION_TAG])
        else:
            evaluation = {"metrics": {}, "holdout_id": tags.get("holdout_id")}
            if mv.run_id:
                run = self._call(f"run {mv.run_id}", "get_run", mv.run_id, missing_ok=True)
                if run is not None:
                    evaluation["metrics"] = dict(run.data.metrics)
                    evaluation["holdout_id"] = evaluation["holdout_id"] or run.data.tags.get("holdout_id")
        name, version = mv.name, int(mv.version)
        uri = (f"models:/{name}@{CHAMPION}" if CHAMPION in aliases else
               f"models:/{name}@{CHALLENGER}" if CHALLENGER in aliases else f"models:/{name}/{version}")
        created = getattr(mv, "creation_timestamp", None)
        return MlflowVersion(
            model_name=name, version=version, run_id=mv.run_id or "", data_version=tags.get("vigil.data_version", ""),
            environment={}, evaluation=evaluation, artifact_path=uri, artifact_sha256="", config_path=None,
            deployment_target="mlflow", description=mv.description or None, created_by=getattr(mv, "user_id", None) or "mlflow",
            created_at=str(created or ""), approval_state=tags.get(APPROVAL_TAG, "pending"),
            approved_by=tags.get("vigil.approved_by"), approved_at=tags.get("vigil.approved_at"),
            approval_reason=tags.get("vigil.approval_reason"), aliases=aliases, source=getattr(mv, "source", "") or "",
        )

    def get(self, model_name: str, version: int) -> MlflowVersion:
        self._check_name(model_name)
        mv = self._call(f"version {version} of {model_name!r}", "get_model_version", model_name, str(version))
        return self._version(mv)

    def versions(self, model_name: str) -> list[MlflowVersion]:
        self._check_name(model_name)
        found = self._call(f"versions of {model_name!r}", "search_model_versions", f"name='{model_name}'")
        return sorted((self._version(mv) for mv in found or []), key=lambda v: v.version)

    def model_names(self) -> list[str]:
        return sorted(m.name for m in self._call("registered models", "search_registered_models") or [])

    def alias(self, model_name: str, alias: str) -> MlflowVersion | None:
        self._check_name(model_name)
        mv = self._call(f"alias {alias!r} of {model_name!r}", "get_model_version_by_alias", model_name, alias, missing_ok=True)
        return None if mv is None else self._version(mv)

    def champion(self, model_name: str) -> MlflowVersion | None:
        return self.alias(model_name, CHAMPION)

    def _alias_version(self, model_name: str, alias: str) -> int | None:
        mv = self._call(f"alias {alias!r} of {model_name!r}", "get_model_version_by_alias", model_name, alias, missing_ok=True)
        return None if mv is None else int(mv.version)

    def events(self, model_name: str, limit: int | None = None) -> list[MlflowRegistryEvent]:
        sql = "SELECT * FROM registry_events WHERE model_name = ? ORDER BY event_id DESC"
        params: tuple[Any, ...] = (model_name,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (model_name, int(limit))
        return [_event(r) for r in self.ops.query(sql, params)]

    def event(self, event_id: int) -> MlflowRegistryEvent:
        rows = self.ops.query("SELECT * FROM registry_events WHERE event_id = ?", (event_id,))
        if not rows:
            raise MlflowRegistryError(f"no registry event {event_id} (hint: `vigil registry history`)")
        return _event(rows[0])

    # ---- writes -----------------------------------------------------------------------------
    def _record(self, conn: sqlite3.Connection, *, model_name: str, kind: str, user: str, reason: str,
                version: int | None = None, alias: str | None = None, from_version: int | None = None,
                to_version: int | None = None, details: dict[str, Any] | None = None,
                reverts_event_id: int | None = None) -> int:
        now = iso(self.clock.now())
        cur = conn.execute(
            "INSERT INTO registry_events (model_name, kind, version, alias, from_version, to_version, actor, at, reason, "
            "details, reverts_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (model_name, kind, version, alias, from_version, to_version, user, now, reason,
             json.dumps({"registry": "mlflow", "uri": self.registry_uri, **(details or {})}, sort_keys=True), reverts_event_id),
        )
        event_id = int(cur.lastrowid or 0)
        target = f"{model_name}@{alias}" if alias else f"{model_name} v{version}"
        audit.record(conn, user, f"registry.{kind}", target, {"version": from_version} if alias else None,
                     {"version": to_version if alias else version, "reason": reason, "registry_event": event_id,
                      "registry": "mlflow"}, clock=self.clock)
        return event_id

    def _move(self, model_name: str, alias: str, to_version: int | None, *, kind: str, user: str, reason: str,
              details: dict[str, Any] | None = None, reverts_event_id: int | None = None) -> int:
        """One alias move: recorded and carried out in one ops transaction (MLflow failing rolls it back)."""
        if alias not in ALIASES:
            raise MlflowRegistryError(f"unknown alias {alias!r} (hint: one of {', '.join(ALIASES)})")
        if not reason.strip():
            raise MlflowRegistryError(f"moving alias {alias!r} needs a reason (hint: --reason '...')")
        from_version = self._alias_version(model_name, alias)
        with self.ops.transaction() as conn:
            event_id = self._record(conn, model_name=model_name, kind=kind, user=user, reason=reason, version=to_version,
                                    alias=alias, from_version=from_version, to_version=to_version, details=details,
                                    reverts_event_id=reverts_event_id)
            if to_version is None:
                self._call(f"removing alias {alias!r} of {model_name!r}", "delete_registered_model_alias", model_name, alias)
            else:
                self._call(f"setting alias {alias!r} of {model_name!r} to v{to_version}", "set_registered_model_alias",
                           model_name, alias, str(to_version))
        return event_id

    def _approved(self, mv: MlflowVersion, what: str) -> None:
        if mv.approval_state != "approved":
            raise MlflowRegistryError(
                f"{mv.model_name} v{mv.version} is {mv.approval_state}, not approved: {what} "
                f"(hint: `vigil registry approve {mv.version} --reason ...` first)"
            )

    def _decide(self, model_name: str, version: int, state: str, user: str, reason: str) -> MlflowVersion:
        if not reason.strip():
            raise MlflowRegistryError(f"deciding on version {version} needs a reason (hint: --reason '...')")
        mv = self.get(model_name, version)
        if state == "approved" and mv.approval_state != "pending":
            raise MlflowRegistryError(f"{model_name} v{version} is {mv.approval_state}, not pending: only pending versions can be approved")
        if state == "rejected" and CHAMPION in mv.aliases:
            raise MlflowRegistryError(f"{model_name} v{version} is the champion: roll back or promote another version first")
        with self.ops.transaction() as conn:
            self._record(conn, model_name=model_name, kind="approve" if state == "approved" else "reject", user=user,
                         reason=reason, version=version)
            # The state tag last: a failure part-way leaves the version's approval state unchanged.
            for key, value in (("vigil.approved_by", user), ("vigil.approved_at", iso(self.clock.now())),
                               ("vigil.approval_reason", reason), (APPROVAL_TAG, state)):
                self._call(f"tagging {model_name} v{version}", "set_model_version_tag", model_name, str(version), key, value)
        return self.get(model_name, version)

    def approve(self, model_name: str, version: int, user: str, reason: str) -> MlflowVersion:
        return self._decide(model_name, version, "approved", user, reason)

    def reject(self, model_name: str, version: int, user: str, reason: str) -> MlflowVersion:
        return self._decide(model_name, version, "rejected", user, reason)

    def set_alias(self, model_name: str, alias: str, version: int | None, user: str, reason: str) -> MlflowRegistryEvent:
        if version is not None:
            mv = self.get(model_name, version)
            if alias == CHAMPION:
                self._approved(mv, "only approved versions can be champion")
        kind = "alias_set" if version is not None else "alias_removed"
        return self.event(self._move(model_name, alias, version, kind=kind, user=user, reason=reason))

    def check_promotion(self, model_name: str, version: int, metric: str = "roc_auc", margin: float = 0.0) -> str:
        mv = self.get(model_name, version)
        self._approved(mv, "only approved versions can be promoted")
        current = self.champion(model_name)
        if current is not None and current.version == version:
            raise MlflowRegistryError(f"{model_name} v{version} is already the champion")
        if current is None:
            return "no current champion"
        ok, why = compare_evaluations(mv.evaluation, current.evaluation, metric, margin)
        if not ok:
            raise MlflowRegistryError(f"{model_name} v{version} is worse than champion v{current.version}: {why}")
        return why

    def promote(self, model_name: str, version: int, user: str, reason: str, *, metric: str | None = None,
                margin: float | None = None) -> MlflowRegistryEvent:
        """Move `champion` to an approved version no worse than the champion; the old champion becomes challenger."""
        mv = self.get(model_name, version)
        rule = mv.evaluation.get("promotion") or {}
        metric = metric or rule.get("metric") or "roc_auc"
        margin = float(margin if margin is not None else rule.get("margin") or 0.0)
        why = self.check_promotion(model_name, version, metric, margin)
        previous = self._alias_version(model_name, CHAMPION)
        eid = self._move(model_name, CHAMPION, version, kind="promote", user=user, reason=reason,
                         details={"evaluation": why, "metric": metric, "margin": margin})
        if self._alias_version(model_name, CHALLENGER) == version:
            self._move(model_name, CHALLENGER, previous, kind="alias_set" if previous else "alias_removed", user=user,
                       reason=f"previous champion after promotion of v{version}")
        return self.event(eid)

    def rollback(self, model_name: str, user: str, reason: str, to_version: int | None = None) -> MlflowRegistryEvent:
        """Move `champion` back to an earlier approved version (default: the previous champion)."""
        current = self._alias_version(model_name, CHAMPION)
        if current is None:
            raise MlflowRegistryError(f"{model_name} has no champion to roll back")
        if to_version is None:
            rows = self.ops.query(
                "SELECT from_version FROM registry_events WHERE model_name = ? AND alias = ? AND to_version = ? "
                "AND from_version IS NOT NULL ORDER BY event_id DESC", (model_name, CHAMPION, current))
            earlier = [int(r["from_version"]) for r in rows if int(r["from_version"]) != current]
            if not earlier:
                raise MlflowRegistryError(f"{model_name}: champion v{current} has no earlier champion to roll back to "
                                          "(hint: pass --to VERSION)")
            to_version = earlier[0]
        if to_version == current:
            raise MlflowRegistryError(f"{model_name} v{to_version} is already the champion")
        if to_version > current:
            raise MlflowRegistryError(f"v{to_version} is newer than champion v{current}: a rollback goes to an earlier version "
                                      "(hint: use `vigil registry promote`)")
        self._approved(self.get(model_name, to_version), "it cannot be champion again")
        return self.event(self._move(model_name, CHAMPION, to_version, kind="rollback", user=user, reason=reason))

    def revert(self, event_id: int, user: str, reason: str) -> MlflowRegistryEvent:
        ev = self.event(event_id)
        if ev.alias is None:
            raise MlflowRegistryError(f"event {event_id} ({ev.kind}) did not move an alias: nothing to revert")
        current = self._alias_version(ev.model_name, ev.alias)
        if current != ev.to_version:
            raise MlflowRegistryError(f"{ev.alias} has moved since event {event_id} (now v{current}, event set "
                                      f"v{ev.to_version}): revert the later move first")
        if ev.from_version is not None and ev.alias == CHAMPION:
            self._approved(self.get(ev.model_name, ev.from_version), "it cannot be champion again")
        return self.event(self._move(ev.model_name, ev.alias, ev.from_version, kind="revert", user=user, reason=reason,
                                     reverts_event_id=event_id))

    def register(self, model_name: str, *, run_id: str, data_version: str, environment: dict[str, Any],
                 evaluation: dict[str, Any], artifact_path: str, artifact_sha256: str, config_path: str | None = None,
                 deployment_target: str = "mlflow", description: str | None = None, user: str = "system") -> MlflowVersion:
        """Log a scikit-learn artifact as a new MLflow model version (pending approval in Vigil)."""
        from core.sklearn_adapter import load_estimator

        estimator = load_estimator(artifact_path)
        try:
            import mlflow
            import mlflow.sklearn
        except ImportError:
            raise MlflowRegistryError("registry kind 'mlflow' needs MLflow installed (hint: pip install 'vigil[mlflow]')") from None
        previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        try:
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri)
            experiment_id = self._experiment_id(mlflow, f"vigil-{model_name}")
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"vigil {run_id}") as run:
                numeric = {k: float(v) for k, v in (evaluation.get("metrics") or {}).items()
                           if isinstance(v, int | float) and not isinstance(v, bool)}
                mlflow.log_metrics(numeric)
                mlflow.set_tags({"vigil.run_id": run_id, "holdout_id": str(evaluation.get("holdout_id") or ""),
                                 "vigil.artifact_sha256": artifact_sha256})
                info = mlflow.sklearn.log_model(estimator, name="model", registered_model_name=model_name,
                                                pip_requirements=_pip_requirements(mlflow), **_skops_trust(estimator))
        except MlflowRegistryError:
            raise
        except Exception as err:
            raise MlflowUnavailable(f"MLflow at {self.registry_uri} failed while registering {model_name}: "
                                    f"{type(err).__name__}: {str(err)[:300]} (hint: check registry.tracking_uri)") from None
        finally:
            mlflow.set_tracking_uri(previous[0])
            mlflow.set_registry_uri(previous[1])
        version = int(info.registered_model_version)
        with self.ops.transaction() as conn:
            self._record(conn, model_name=model_name, kind="register", user=user, version=version,
                         reason=description or f"registered from run {run_id}", details={"run_id": run.info.run_id})
            for key, value in ((EVALUATION_TAG, json.dumps(evaluation, sort_keys=True, default=str)),
                               (APPROVAL_TAG, "pending"), ("vigil.data_version", data_version)):
                self._call(f"tagging {model_name} v{version}", "set_model_version_tag", model_name, str(version), key, value)
        return self.get(model_name, version)
