"""The one feature-building code path, shared by training and batch scoring.

`build_features(applications, bureau)` joins the two upstream extracts on
application_id and derives loan_to_income. Training, the scorer and the skew check
(config `model.feature_builder`) all call it, so served features cannot silently
diverge from trained ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

APPLICATION_FEATURES: tuple[str, ...] = (
    "income",
    "loan_amount",
    "term_months",
    "interest_rate",
    "employment_years",
    "home_ownership",
    "purpose",
)
BUREAU_FEATURES: tuple[str, ...] = (
    "credit_score",
    "credit_history_years",
    "utilisation",
    "delinquencies",
    "open_accounts",
)
DERIVED_FEATURES: tuple[str, ...] = ("loan_to_income",)
SERVED_FEATURES: tuple[str, ...] = APPLICATION_FEATURES + BUREAU_FEATURES + DERIVED_FEATURES
CATEGORICAL_FEATURES: tuple[str, ...] = ("home_ownership", "purpose")
NUMERIC_FEATURES: tuple[str, ...] = tuple(f for f in SERVED_FEATURES if f not in CATEGORICAL_FEATURES)


def _numeric(series: pd.Series) -> pd.Series:
    # An upstream retype (numbers delivered as strings) is parsed back; text that is
    # not a number becomes null, so the record fails validation instead of crashing.
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _latest_bureau_row(bureau: pd.DataFrame) -> pd.DataFrame:
    # A bureau extract may repeat an application (duplicates incident, re-pulls):
    # the most recent report wins, so one application gives one feature row.
    if "reported_at" in bureau.columns:
        bureau = bureau.sort_values(["application_id", "reported_at"], kind="mergesort")
    return bureau.drop_duplicates("application_id", keep="last")


def build_features(applications: pd.DataFrame, bureau: pd.DataFrame) -> pd.DataFrame:
    """Served features for each application: one row per application_id, input order kept.

    Returns application_id, submitted_at and SERVED_FEATURES. A column missing
    upstream (dropped or renamed) comes out null so record validation rejects it.
    """
    if "application_id" not in applications.columns:
        raise ValueError(
            "applications extract has no 'application_id' column "
            f"(columns: {', '.join(map(str, applications.columns))}; hint: check the upstream schema)"
        )
    apps = applications.drop_duplicates("application_id", keep="first").copy()
    apps["application_id"] = apps["application_id"].astype(str)
    out = pd.DataFrame({"application_id": apps["application_id"].to_numpy()})
    out["submitted_at"] = (
        pd.to_datetime(apps["submitted_at"]).to_numpy()
        if "submitted_at" in apps.columns
        else pd.Series(pd.NaT, index=out.index)
    )
    for col in APPLICATION_FEATURES:
        values = apps[col].to_numpy() if col in apps.columns else np.full(len(apps), None, dtype=object)
        out[col] = values
    if "application_id" in bureau.columns and len(bureau):
        b = bureau.copy()
        b["application_id"] = b["application_id"].astype(str)
        b = _latest_bureau_row(b)
        cols = ["application_id"] + [c for c in BUREAU_FEATURES if c in b.columns]
        out = out.merge(b[cols], on="application_id", how="left", sort=False)
    for col in BUREAU_FEATURES:
        if col not in out.columns:
            out[col] = np.nan
    for col in NUMERIC_FEATURES:
        if col in out.columns:
            out[col] = _numeric(out[col])
    for col in CATEGORICAL_FEATURES:
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    income = out["income"]
    # Non-positive income has no meaningful ratio: null rather than inf.
    out["loan_to_income"] = (out["loan_amount"] / income).where(income > 0)
    return out[["application_id", "submitted_at", *SERVED_FEATURES]]
