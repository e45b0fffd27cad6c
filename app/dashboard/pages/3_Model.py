"""Model: the registry entry (versions, aliases, approvals, metrics, events) and its actions."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import actions, queries
from app.dashboard import common

cfg = common.page("Model")
common.require_stores(cfg)

with common.store_busy_notice():
    model_name = queries.registry_model_name(cfg)

    versions = queries.registry_versions(cfg)
    if not versions:
        st.info(
            f"No registered versions of `{model_name}`. For the example model run `vigil train` "
            "(or `make run`); for your own model set `model.registry_name` in the config."
        )
        st.stop()


    def metrics_of(version: dict[str, Any]) -> dict[str, Any]:
        evaluation = version.get("evaluation") or {}
        metrics = evaluation.get("metrics", evaluation)
        return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


    champion = next((v for v in versions if "champion" in (v.get("aliases") or [])), None)
    c1, c2, c3 = st.columns(3)
    c1.metric("Champion", f"v{champion['version']}" if champion else "none")
    challenger = next((v for v in versions if "challenger" in (v.get("aliases") or [])), None)
    c2.metric("Challenger", f"v{challenger['version']}" if challenger else "none")
    c3.metric("Versions", len(versions))

    st.subheader("Versions")
    table = pd.DataFrame(
        [
            {
                "version": v["version"],
                "aliases": ", ".join(v.get("aliases") or []),
                "approval": v.get("approval_state"),
                "approved by": v.get("approved_by") or "",
                "run": v.get("run_id"),
                "created": v.get("created_at"),
                **{k: round(float(x), 4) for k, x in metrics_of(v).items()},
            }
            for v in sorted(versions, key=lambda v: -int(v["version"]))
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")

    numbers = [int(v["version"]) for v in versions]
    selected = st.selectbox("Version", sorted(numbers, reverse=True), format_func=lambda n: f"v{n}")
    version = next(v for v in versions if int(v["version"]) == selected)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**v{selected}** · {version.get('approval_state')} · aliases: {', '.join(version.get('aliases') or []) or 'none'}")
        st.json(
            {
                "run_id": version.get("run_id"),
                "data_version": version.get("data_version"),
                "artifact_sha256": version.get("artifact_sha256"),
                "deployment_target": version.get("deployment_target"),
                "approval": {k: version.get(k) for k in ("approved_by", "approved_at", "approval_reason")},
                "evaluation": version.get("evaluation"),
                "environment": version.get("environment"),
            },
            expanded=False,
        )
    with right:
        st.markdown("**Actions** (the same rules as `vigil registry ...`: promotion needs approval and an evaluation no worse than the champion's)")
        me = common.user()
        common.role_note("registry.approve", "registry.promote")
        may_approve, may_promote = common.can("registry.approve"), common.can("registry.promote")
        reason = st.text_input("Reason (required)", key="reason")

        def act(label: str, action: str, fn: Any, *args: Any) -> None:
            if not common.permitted(action):
                return
            if not reason.strip():
                st.error("Give a reason: every registry change is recorded with who, when and why.")
                return
            try:
                fn(*args)
                common.done(f"{label}: done.")
            except Exception as err:  # RegistryError subclasses carry the refusal reason
                st.error(f"{label} refused: {err}")

        is_champion = champion is not None and int(champion["version"]) == selected
        earlier = [int(v["version"]) for v in versions
                   if champion is not None and int(v["version"]) < int(champion["version"])]
        # Why an action cannot apply, shown beside it (a disabled button alone says nothing).
        why_not = {
            "approve": "already approved" if version.get("approval_state") == "approved" else None,
            "reject": ("already rejected" if version.get("approval_state") == "rejected"
                       else "it is the champion: promote or roll back to another version first" if is_champion
                       else None),
            "promote": "already the champion" if is_champion else None,
            "rollback": ("no champion to roll back" if champion is None
                         else "no earlier version to roll back to" if not earlier else None),
        }
        # Two rows of two: four buttons in a half-width column cut their labels off.
        b1, b2 = st.columns(2)
        b3, b4 = st.columns(2)
        if b1.button("Approve", disabled=bool(why_not["approve"]) or not may_approve, help=why_not["approve"]):
            act("Approve", "registry.approve", actions.approve_version, cfg, model_name, selected, me, reason.strip())
        if b2.button("Reject", disabled=bool(why_not["reject"]) or not may_approve, help=why_not["reject"]):
            act("Reject", "registry.approve", actions.reject_version, cfg, model_name, selected, me, reason.strip())
        if b3.button("Promote to champion", disabled=bool(why_not["promote"]) or not may_promote, help=why_not["promote"]):
            act("Promote", "registry.promote", actions.promote_version, cfg, model_name, selected, me, reason.strip())
        reasons = [f"{k}: {v}" for k, v in why_not.items() if v]
        if reasons:
            st.caption("Not available: " + "; ".join(reasons) + ".")
        if b4.button("Roll back champion", disabled=bool(why_not["rollback"]) or not may_promote, help=why_not["rollback"]):
            act("Rollback", "registry.promote", actions.rollback_champion, cfg, model_name, me, reason.strip(),
                selected if champion is not None and selected < int(champion["version"]) else None)

    st.subheader("Training runs")
    runs = queries.training_runs(cfg)
    if runs:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "run": r.get("run_id"),
                        "config": r.get("config_name"),
                        "model type": r.get("model_type"),
                        "status": r.get("status"),
                        "started": r.get("started_at"),
                        **{k: round(float(v), 4) for k, v in (r.get("metrics") or {}).items()
                           if isinstance(v, int | float) and not isinstance(v, bool)},
                    }
                    for r in runs
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        if len(runs) >= 2:
            ids = [str(r["run_id"]) for r in runs]
            r1, r2 = st.columns(2)
            run_a = r1.selectbox("Compare run", ids, index=1)
            run_b = r2.selectbox("with run", ids, index=0)
            if run_a != run_b:
                comparison = pd.DataFrame(queries.compare_training_runs(cfg, str(run_a), str(run_b)))
                only_diff = st.toggle("Only differences", value=True)
                if only_diff and not comparison.empty:
                    comparison = comparison[~comparison["same"]]
                st.dataframe(comparison.astype(str), hide_index=True, width="stretch")
    else:
        st.caption("No training runs recorded for this model (`vigil train --config baseline_model/configs/train_gbm.yaml`).")

    st.subheader("Registry events")
    events = queries.registry_events(cfg)
    if events:
        st.dataframe(
            pd.DataFrame(
                [
                    {k: e.get(k) for k in ("event_id", "at", "kind", "alias", "from_version", "to_version", "version", "actor", "reason")}
                    for e in events
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        with st.form("revert"):
            event_ids = [int(e["event_id"]) for e in events if e.get("alias")]
            if event_ids:
                event_id = st.selectbox("Revert an alias move", event_ids, format_func=lambda i: f"event {i}")
                revert_reason = st.text_input("Why revert (required)")
                if st.form_submit_button("Revert", disabled=not common.can("registry.promote")):
                    if not common.permitted("registry.promote"):
                        pass
                    elif not revert_reason.strip():
                        st.error("Give a reason for the revert.")
                    else:
                        try:
                            actions.revert_registry_event(cfg, int(event_id), common.user(), revert_reason.strip())
                            common.done(f"Event {event_id} reverted.")
                        except Exception as err:
                            st.error(f"Revert refused: {err}")
            else:
                st.caption("No alias moves to revert.")
                st.form_submit_button("Revert", disabled=True)
    else:
        st.info("No registry events.")
