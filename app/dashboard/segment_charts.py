"""Charts of segments for the desk: the segment x batch heatmap of a check family (Checks page)
and the decomposition of a model-level change over segments (Alerts page).

Data text (segment labels, subjects) only reaches Altair as data values (tooltips, axis labels),
never as Markdown or HTML.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from app.dashboard.common import status_scale


def heatmap_chart(frame: pd.DataFrame) -> alt.Chart:
    """One cell per (batch, segment): the worst status of the family's segment tests."""
    data = frame.assign(batch=pd.to_datetime(frame["batch"]).dt.strftime("%Y-%m-%d %H:%M"))
    height = max(160, 22 * data["segment"].nunique())
    return (
        alt.Chart(data)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("batch:O", title="batch", axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("segment:N", title="segment", sort="ascending", axis=alt.Axis(labelLimit=220)),
            color=alt.Color("status:N", scale=status_scale(), title="worst status"),
            tooltip=["segment:N", "batch:O", "status:N", "check:N", "subject:N",
                     alt.Tooltip("adjusted_pvalue:Q", title="smallest adjusted p", format=".2g"),
                     alt.Tooltip("rows:Q", title="rows", format=","), alt.Tooltip("tests:Q", title="tests")],
        )
        .properties(height=height)
    )


def decomposition_frame(decomposition: dict[str, Any]) -> pd.DataFrame:
    """Bars of a decomposition: each segment's within-segment part, the mix shift and (one at a
    time) the interaction; they sum to the change."""
    rows = [
        {"part": str(p.get("segment")), "contribution": float(p.get("within") or 0.0), "kind": "within segment",
         "segment reference": p.get("segment_reference"), "segment now": p.get("segment_current"),
         "rows": p.get("rows")}
        for p in decomposition.get("parts") or []
    ]
    rows.append({"part": "mix of segments", "contribution": float(decomposition.get("mix") or 0.0), "kind": "mix shift",
                 "segment reference": None, "segment now": None, "rows": None})
    if decomposition.get("method") == "one_at_a_time":
        rows.append({"part": "interaction", "contribution": float(decomposition.get("interaction") or 0.0),
                     "kind": "interaction", "segment reference": None, "segment now": None, "rows": None})
    return pd.DataFrame(rows)


def decomposition_chart(decomposition: dict[str, Any]) -> alt.Chart:
    frame = decomposition_frame(decomposition)
    order = list(frame["part"])
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("part:N", sort=order, title=None, axis=alt.Axis(labelLimit=240)),
            x=alt.X("contribution:Q", title=f"share of the change in {decomposition.get('metric')}"),
            color=alt.Color("kind:N", scale=alt.Scale(domain=["within segment", "mix shift", "interaction"],
                                                      range=["#1f77b4", "#ff7f0e", "#9e9e9e"])),
            tooltip=["part:N", alt.Tooltip("contribution:Q", format="+.4f"),
                     alt.Tooltip("segment reference:Q", format=".4f"), alt.Tooltip("segment now:Q", format=".4f"),
                     alt.Tooltip("rows:Q", format=",")],
        )
        .properties(height=max(120, 26 * len(frame)))
    )


def decompositions_of(evidence: Any) -> list[dict[str, Any]]:
    """The decompositions stored in a result's evidence (checks.segments), most concentrated first."""
    if not isinstance(evidence, dict):
        return []
    found = evidence.get("decomposition")
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []
