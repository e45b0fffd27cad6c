"""A seeded simulator of a loan-default business, writing the landing files of CONTRACTS.md.

Each simulated day: applications and bureau extracts (as delivered upstream, with any
injected reporting incident), the prediction log written by the batch scorer with the
current champion, and the outcomes that mature that day (applications of
day - label_delay, only approved ones: the model's approvals plus the random control
slice). The true default of every application is drawn when it is generated, from a
logistic function of its true features, and kept under `<root>/simulator/` (the
"world"; never ingested), so outcomes do not depend on regenerating anything.

Determinism: each day draws from its own generator seeded by (seed, day), so the same
call writes byte-identical files and `simulate_day` continues a history exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from baseline_model.features import APPLICATION_FEATURES, BUREAU_FEATURES
from baseline_model.layout import etl_path, predictions_path, snapshot_dir, write_parquet_atomic

if TYPE_CHECKING:
    from core.stores import OpsStore

INCIDENT_KINDS: tuple[str, ...] = (
    "unit_change",
    "nulls",
    "dropped_column",
    "renamed_column",
    "retyped_column",
    "stale_table",
    "duplicates",
    "volume_drop",
    "new_category",
    "covariate_drift",
    "concept_drift",
    "prediction_shift",
)
# Population changes last until the end of the simulation unless a duration is given;
# upstream reporting faults last one day.
_PERSISTENT_KINDS = {"covariate_drift", "concept_drift"}

# Default target column / table, size and value per incident kind.
_DEFAULTS: dict[str, tuple[str | None, float | None, str | None]] = {
    "unit_change": ("income", 0.001, None),  # income reported in thousands
    "nulls": ("credit_score", 0.3, None),  # fraction of rows null
    "dropped_column": ("employment_years", None, None),
    "renamed_column": ("income", None, None),  # new name: value or '<column>_v2'
    "retyped_column": ("income", None, None),  # numbers delivered as strings
    "stale_table": ("bureau", None, None),  # size None: not delivered; k: timestamps k days old
    "duplicates": ("applications", 0.1, None),  # fraction of rows repeated
    "volume_drop": ("applications", 0.3, None),  # fraction of the usual volume that arrives
    "new_category": ("purpose", 0.15, "crypto"),  # fraction of rows with the new value
    "covariate_drift": ("credit_score", -1.0, None),  # shift by k standard deviations
    "concept_drift": ("home_ownership", 1.0, "RENT"),  # + log-odds of default in the segment
    "prediction_shift": (None, 0.15, None),  # added to served scores (serving bug)
}

# Weekly seasonality of application volume, Monday first (weekends are quiet).
WEEKDAY_FACTOR: tuple[float, ...] = (1.12, 1.08, 1.04, 1.04, 1.10, 0.85, 0.77)
HOME_OWNERSHIP = ("RENT", "MORTGAGE", "OWN")
PURPOSES = ("debt_consolidation", "credit_card", "home_improvement", "car", "other")
_PURPOSE_LOGIT = {"debt_consolidation": 0.15, "credit_card": 0.05, "home_improvement": -0.15, "car": -0.2, "other": 0.1}
_INT_COLUMNS = ("term_months", "credit_score", "delinquencies", "open_accounts")
# The extracts as delivered: key, event timestamp, then the model's inputs by table.
APPLICATION_COLUMNS = ("application_id", "submitted_at", *APPLICATION_FEATURES)
BUREAU_COLUMNS = ("application_id", "reported_at", *BUREAU_FEATURES)
# Legacy rule deciding approvals when the simulation runs without a scorer.
LEGACY_CREDIT_SCORE_CUTOFF = 640


class SimulationError(ValueError):
    """Bad simulator input (unknown incident kind, column, day)."""


@dataclass(frozen=True)
class Incident:
    """An injected incident. `day` is an offset from the simulation start or a date.

    column: the column (or table, for stale_table / duplicates / volume_drop) it hits.
    size: factor, fraction, k standard deviations, log-odds or score shift by kind.
    offset: added after the factor (affine unit changes such as C -> F: size 1.8, offset 32).
    value: new name (renamed_column), new category, or concept-drift segment value.
    duration_days: None = kind default (drifts persist, reporting faults last one day).
    """

    kind: str
    day: int | date
    column: str | None = None
    size: float | None = None
    offset: float = 0.0
    value: str | None = None
    duration_days: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise SimulationError(
                f"unknown incident kind {self.kind!r} (hint: one of {', '.join(INCIDENT_KINDS)})"
            )
        if self.duration_days is not None and self.duration_days < 1:
            raise SimulationError(f"incident {self.kind}: duration_days must be >= 1")

    @property
    def target(self) -> str | None:
        return self.column if self.column is not None else _DEFAULTS[self.kind][0]

    @property
    def amount(self) -> float | None:
        return self.size if self.size is not None else _DEFAULTS[self.kind][1]

    @property
    def label(self) -> str | None:
        return self.value if self.value is not None else _DEFAULTS[self.kind][2]

    def first_day(self, start: date | None) -> date:
        if isinstance(self.day, date):
            return self.day
        if start is None:
            raise SimulationError(f"incident {self.kind} gives day {self.day} as an offset but no start date is known")
        return start + timedelta(days=int(self.day))

    def active_on(self, day: date, start: date | None) -> bool:
        first = self.first_day(start)
        if day < first:
            return False
        duration = self.duration_days
        if duration is None:
            return self.kind in _PERSISTENT_KINDS or day == first
        return day < first + timedelta(days=duration)


def parse_incident(text: str) -> Incident:
    """'KIND:DAY[:COLUMN[:SIZE]]' (CLI form), e.g. 'unit_change:12', 'nulls:5:credit_score:0.5'.

    COLUMN may carry a value as COLUMN=VALUE: the new name (renamed_column), the new
    category (new_category) or the segment (concept_drift: 'purpose=credit_card').
    """
    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 4:
        raise SimulationError(f"incident {text!r}: expected KIND:DAY[:COLUMN[:SIZE]] (e.g. unit_change:12:income)")
    kind, day_text = parts[0], parts[1]
    try:
        day: int | date = date.fromisoformat(day_text) if "-" in day_text else int(day_text)
    except ValueError:
        raise SimulationError(f"incident {text!r}: DAY {day_text!r} is neither an integer offset nor YYYY-MM-DD") from None
    column = parts[2] if len(parts) > 2 and parts[2] else None
    value = None
    if column is not None and "=" in column:
        column, value = column.split("=", 1)
    size = None
    if len(parts) > 3:
        try:
            size = float(parts[3])
        except ValueError:
            raise SimulationError(f"incident {text!r}: SIZE {parts[3]!r} is not a number") from None
    return Incident(kind=kind, day=day, column=column, size=size, value=value)


@dataclass
class DayData:
    """One simulated day: the extracts as delivered, and the world's truth."""

    day: date
    applications: pd.DataFrame
    bureau: pd.DataFrame | None  # None: the extract was not delivered
    truth: pd.DataFrame  # application_id, submitted_at, defaulted, p_default (true features' risk)
    score_shift: float = 0.0
    incidents: list[str] = field(default_factory=list)


def _day_rng(seed: int, day: date, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal(), stream])


def _volume(day: date, volume: int, rng: np.random.Generator) -> int:
    return int(rng.poisson(volume * WEEKDAY_FACTOR[day.weekday()]))


def _population(day: date, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """True applicant features (before any upstream reporting fault)."""
    credit = np.clip(np.round(rng.normal(680, 60, n)), 300, 850)
    income = np.round(rng.lognormal(np.log(60_000), 0.5, n), 2)
    employment = np.clip(np.round(rng.gamma(2.0, 3.0, n), 1), 0, 45)
    home = rng.choice(HOME_OWNERSHIP, size=n, p=[0.42, 0.43, 0.15])
    purpose = rng.choice(PURPOSES, size=n, p=[0.45, 0.2, 0.12, 0.1, 0.13])
    loan = np.clip(np.round(income * rng.lognormal(np.log(0.22), 0.45, n), -2), 1_000, 100_000)
    term = rng.choice([36, 60], size=n, p=[0.72, 0.28])
    rate = np.round(np.clip(5 + (850 - credit) / 550 * 22 + (term == 60) * 1.5 + rng.normal(0, 1.5, n), 4, 36), 2)
    history = np.round(np.clip(rng.gamma(3.0, 3.0, n) + (credit - 680) / 40, 0.3, 50), 1)
    utilisation = np.round(np.clip(rng.beta(2, 5, n) + (700 - credit) / 1000, 0, 1), 3)
    delinquencies = np.clip(rng.poisson(np.exp(-1.3 + (640 - credit) / 90)), 0, 20)
    open_accounts = 1 + rng.poisson(6, n)
    seconds = np.sort(rng.uniform(0, 86_400, n))
    midnight = datetime.combine(day, time())
    submitted = pd.to_datetime(midnight) + pd.to_timedelta(np.floor(seconds), unit="s")
    # Bureau pulled a little before submission, on the same day.
    pulled = np.minimum(np.floor(seconds), rng.uniform(1, 600, n).round())
    ids = [f"A{day:%Y%m%d}-{i:06d}" for i in range(n)]
    return pd.DataFrame(
        {
            "application_id": ids,
            "submitted_at": submitted.astype("datetime64[us]"),
            "income": income,
            "loan_amount": loan.astype(float),
            "term_months": term.astype("int64"),
            "interest_rate": rate,
            "employment_years": employment,
            "home_ownership": home.astype(object),
            "purpose": purpose.astype(object),
            "reported_at": (submitted - pd.to_timedelta(pulled, unit="s")).astype("datetime64[us]"),
            "credit_score": credit.astype("int64"),
            "credit_history_years": history,
            "utilisation": utilisation,
            "delinquencies": delinquencies.astype("int64"),
            "open_accounts": open_accounts.astype("int64"),
        }
    )


def default_logit(pop: pd.DataFrame) -> np.ndarray:
    """Log-odds of default from true features (the business's hidden risk model)."""
    lti = pop["loan_amount"].to_numpy() / pop["income"].to_numpy()
    purpose_effect = pop["purpose"].map(_PURPOSE_LOGIT).fillna(0.0).to_numpy()
    return (
        -2.75
        - 0.75 * (pop["credit_score"].to_numpy() - 680) / 60
        + 1.2 * np.log(lti / 0.22)
        + 1.6 * (pop["utilisation"].to_numpy() - 0.3)
        + 0.35 * pop["delinquencies"].to_numpy()
        + 0.35 * (pop["term_months"].to_numpy() == 60)
        - 0.03 * pop["employment_years"].to_numpy()
        + 0.3 * (pop["home_ownership"].to_numpy() == "RENT")
        + 0.04 * (pop["interest_rate"].to_numpy() - 12)
        + purpose_effect
    )


def apply_covariate_drift(pop: pd.DataFrame, inc: Incident) -> None:
    col = inc.target or "credit_score"
    if col not in pop.columns or col in ("application_id", "home_ownership", "purpose"):
        raise SimulationError(f"covariate_drift: {col!r} is not a numeric simulated column")
    values = pop[col].to_numpy(dtype=float)
    shifted = values + float(inc.amount or 0.0) * float(np.std(values))
    bounds = {"credit_score": (300, 850), "utilisation": (0, 1)}
    low, high = bounds.get(col, (0, np.inf))
    shifted = np.clip(shifted, low, high)
    pop[col] = np.round(shifted).astype("int64") if col in _INT_COLUMNS else shifted


def _segment_mask(pop: pd.DataFrame, inc: Incident) -> np.ndarray:
    col = inc.target
    if col is None:
        return np.ones(len(pop), dtype=bool)
    if col not in pop.columns:
        raise SimulationError(f"concept_drift: segment column {col!r} is not simulated")
    return (pop[col].astype(str) == str(inc.label)).to_numpy()


def table_of(column: str, applications: pd.DataFrame, bureau: pd.DataFrame | None) -> str:
    if column in applications.columns:
        return "applications"
    if bureau is not None and column in bureau.columns:
        return "bureau"
    raise SimulationError(
        f"incident column {column!r} is in neither extract "
        f"(applications: {', '.join(applications.columns)}; hint: pass --incident KIND:DAY:COLUMN)"
    )


def apply_reporting(
    inc: Incident, tables: dict[str, pd.DataFrame | None], rng: np.random.Generator
) -> None:
    """An upstream fault: changes what the extract says, not what is true."""
    kind = inc.kind
    if kind in ("stale_table", "duplicates"):
        name = inc.target or ""
        if name not in tables:
            raise SimulationError(f"{kind}: unknown table {name!r} (hint: applications, bureau or outcomes)")
        frame = tables[name]
        if frame is None:
            return
        if kind == "stale_table":
            if inc.size is None:
                tables[name] = None  # extract not delivered
            else:
                ts = "reported_at" if name == "bureau" else ("submitted_at" if name == "applications" else "observed_at")
                frame[ts] = frame[ts] - pd.Timedelta(days=float(inc.size))
        else:
            k = int(round(len(frame) * float(inc.amount or 0)))
            extra = frame.iloc[np.sort(rng.choice(len(frame), size=k, replace=False))] if k else frame.iloc[:0]
            ts = next(c for c in frame.columns if c.endswith("_at"))
            tables[name] = pd.concat([frame, extra]).sort_values(ts, kind="mergesort").reset_index(drop=True)
        return
    column = inc.target or ""
    apps = tables["applications"]
    assert apps is not None
    name = table_of(column, apps, tables["bureau"])
    frame = tables[name]
    assert frame is not None
    if kind == "unit_change":
        frame[column] = frame[column].astype(float) * float(inc.amount or 1.0) + inc.offset
    elif kind == "nulls":
        mask = rng.random(len(frame)) < float(inc.amount or 0)
        if column in _INT_COLUMNS:
            frame[column] = frame[column].astype("Int64")  # nullable: the column stays integer
        frame.loc[mask, column] = None
    elif kind == "dropped_column":
        tables[name] = frame.drop(columns=[column])
    elif kind == "renamed_column":
        tables[name] = frame.rename(columns={column: inc.label or f"{column}_v2"})
    elif kind == "retyped_column":
        frame[column] = frame[column].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    elif kind == "new_category":
        mask = rng.random(len(frame)) < float(inc.amount or 0)
        frame[column] = frame[column].astype(object)
        frame.loc[mask, column] = inc.label
    else:  # pragma: no cover - guarded by generate_day's dispatch
        raise SimulationError(f"{kind} is not a reporting incident")


def generate_day(
    day: date,
    seed: int,
    volume: int = 2000,
    incidents: Sequence[Incident] = (),
    start: date | None = None,
) -> DayData:
    """Simulate one day in memory: extracts as delivered, plus the truth."""
    active = [i for i in incidents if i.active_on(day, start)]
    rng = _day_rng(seed, day, 0)
    n = _volume(day, volume, rng)
    for inc in active:
        if inc.kind == "volume_drop":
            n = int(round(n * float(inc.amount if inc.amount is not None else 1.0)))
    pop = _population(day, n, rng)
    for inc in active:
        if inc.kind == "covariate_drift":
            apply_covariate_drift(pop, inc)
    logit = default_logit(pop)
    for inc in active:
        if inc.kind == "concept_drift":
            logit = logit + float(inc.amount or 0) * _segment_mask(pop, inc)
    truth_rng = _day_rng(seed, day, 1)
    # Risk the lender cannot observe (life events): keeps a good model near AUC 0.75.
    logit = logit + truth_rng.normal(0.0, 0.75, n)
    p_default = 1 / (1 + np.exp(-logit))
    defaulted = (truth_rng.random(n) < p_default).astype("int64")
    truth = pd.DataFrame(
        {
            "application_id": pop["application_id"],
            "submitted_at": pop["submitted_at"],
            "defaulted": defaulted,
            "p_default": np.round(p_default, 6),
        }
    )
    tables: dict[str, pd.DataFrame | None] = {
        "applications": pop[list(APPLICATION_COLUMNS)].copy(),
        "bureau": pop[list(BUREAU_COLUMNS)].copy(),
    }
    fault_rng = _day_rng(seed, day, 2)
    score_shift = 0.0
    for inc in active:
        if inc.kind == "prediction_shift":
            score_shift += float(inc.amount or 0)
        elif inc.kind not in ("volume_drop", "covariate_drift", "concept_drift"):
            if inc.kind in ("stale_table", "duplicates") and inc.target == "outcomes":
                continue  # applied when the outcomes file is written
            apply_reporting(inc, tables, fault_rng)
    apps = tables["applications"]
    assert apps is not None
    return DayData(
        day=day,
        applications=apps,
        bureau=tables["bureau"],
        truth=truth,
        score_shift=score_shift,
        incidents=[f"{i.kind}:{i.target}" for i in active],
    )


def truth_path(root: str | Path, day: date) -> Path:
    return Path(root) / "simulator" / f"truth_{day.isoformat()}.parquet"


def _approved_ids(root: Path, source_day: date, truth: pd.DataFrame) -> pd.Series:
    """Applications of source_day that were approved (the model's approvals + control)."""
    preds = predictions_path(root, source_day)
    if preds.exists():
        p = pd.read_parquet(preds, columns=["application_id", "decision"])
        return p.loc[p["decision"] == "approve", "application_id"].astype(str)
    # No scorer ran that day: the legacy credit-score rule decided, plus the control slice.
    from baseline_model.scorer import is_control

    bureau_file = etl_path(root, "bureau", source_day)
    bureau = pd.read_parquet(bureau_file) if bureau_file.exists() else None
    approved = pd.Series(False, index=truth.index)
    if bureau is not None and "credit_score" in bureau.columns:
        cs = bureau.drop_duplicates("application_id").set_index("application_id")["credit_score"]
        score = truth["application_id"].map(cs)
        approved = pd.to_numeric(score, errors="coerce").fillna(0) >= LEGACY_CREDIT_SCORE_CUTOFF
    approved = approved | truth["application_id"].map(is_control)
    return truth.loc[approved.to_numpy(), "application_id"].astype(str)


def outcomes_for_day(
    root: str | Path, day: date, label_delay_days: int, seed: int, incidents: Sequence[Incident] = (),
    start: date | None = None,
) -> pd.DataFrame | None:
    """Outcomes observed on `day`: approved applications of day - label_delay_days."""
    root = Path(root)
    source_day = day - timedelta(days=label_delay_days)
    tp = truth_path(root, source_day)
    if not tp.exists():
        return None
    truth = pd.read_parquet(tp)
    approved = set(_approved_ids(root, source_day, truth))
    rows = truth[truth["application_id"].isin(approved)]
    out = pd.DataFrame(
        {
            "application_id": rows["application_id"].astype(str).to_numpy(),
            "observed_at": (rows["submitted_at"] + pd.Timedelta(days=label_delay_days)).astype("datetime64[us]").to_numpy(),
            "defaulted": rows["defaulted"].astype("int64").to_numpy(),
        }
    )
    tables: dict[str, pd.DataFrame | None] = {"outcomes": out, "applications": out, "bureau": None}
    rng = _day_rng(seed, day, 3)
    for inc in incidents:
        if inc.active_on(day, start) and inc.kind in ("stale_table", "duplicates") and inc.target == "outcomes":
            apply_reporting(inc, tables, rng)
    return tables["outcomes"]


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    write_parquet_atomic(frame.reset_index(drop=True), path)


@dataclass
class DayReport:
    day: date
    applications: int
    bureau_delivered: bool
    outcomes: int
    scored: int
    fallback: int
    incidents: list[str]


def simulate_day(
    root: str | Path,
    day: date,
    seed: int,
    volume: int = 2000,
    incidents: Sequence[Incident] = (),
    label_delay_days: int = 14,
    score: bool = True,
    ops: OpsStore | None = None,
    model_name: str = "loan_default",
    start: date | None = None,
) -> DayReport:
    """Simulate one business day: extracts, scoring with the champion, matured outcomes."""
    root = Path(root)
    data = generate_day(day, seed, volume, incidents, start)
    _write_frame(data.truth, truth_path(root, day))
    _write_frame(data.applications, etl_path(root, "applications", day))
    if data.bureau is not None:
        _write_frame(data.bureau, etl_path(root, "bureau", day))
    scored = fallback = 0
    if score:
        from baseline_model.scorer import score_day
        from core.stores import OpsStore

        job = score_day(
            root, day, ops if ops is not None else OpsStore(root / "ops.sqlite"), model_name=model_name,
            score_shift=data.score_shift,
        )
        scored, fallback = job.scored, job.fallback
    outcomes = outcomes_for_day(root, day, label_delay_days, seed, incidents, start)
    if outcomes is not None:
        _write_frame(outcomes, etl_path(root, "outcomes", day))
    return DayReport(
        day=day,
        applications=len(data.applications),
        bureau_delivered=data.bureau is not None,
        outcomes=0 if outcomes is None else len(outcomes),
        scored=scored,
        fallback=fallback,
        incidents=data.incidents,
    )


def simulate_history(
    root: str | Path,
    start: date,
    days: int,
    seed: int,
    volume: int = 2000,
    incidents: Iterable[Incident] = (),
    label_delay_days: int = 14,
    ops: OpsStore | None = None,
    model_name: str = "loan_default",
    score: bool = True,
    progress: bool = False,
) -> list[DayReport]:
    """Simulate `days` consecutive days from `start`, in order (see simulate_day)."""
    if days < 1:
        raise SimulationError(f"days must be >= 1 (got {days})")
    incident_list = list(incidents)
    for inc in incident_list:
        inc.first_day(start)  # offsets resolve against start; fail early on bad input
    day_iter: Iterable[int] = range(days)
    if progress:
        from tqdm import tqdm

        day_iter = tqdm(day_iter, desc="simulating days", unit="day")
    reports = [
        simulate_day(
            root, start + timedelta(days=i), seed, volume, incident_list, label_delay_days, score, ops,
            model_name, start,
        )
        for i in day_iter
    ]
    _record_simulation(Path(root), start, days, seed, volume, incident_list, label_delay_days)
    return reports


def _record_simulation(
    root: Path, start: date, days: int, seed: int, volume: int, incidents: list[Incident], delay: int
) -> None:
    """Append what was simulated (for drills and for the demo's idempotency)."""
    log = root / "simulator" / "simulations.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "volume": volume,
        "label_delay_days": delay,
        "incidents": [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(i).items()} for i in incidents],
    }
    with log.open("a") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")


def make_training_snapshot(
    root: str | Path, end: date, days: int = 60, volume: int = 1000, seed: int = 1
) -> Path:
    """A historical training snapshot: applications, bureau and labels for ALL rows.

    Covers the `days` days before `end` (exclusive), i.e. before the simulation starts,
    from an earlier period in which every application was approved (so labels are
    complete). Returns the snapshot folder.
    """
    if days < 2:
        raise SimulationError("a training snapshot needs at least 2 days (time-based holdout)")
    apps, bureau, labels = [], [], []
    for i in range(days, 0, -1):
        data = generate_day(end - timedelta(days=i), seed, volume)
        apps.append(data.applications)
        assert data.bureau is not None
        bureau.append(data.bureau)
        labels.append(data.truth[["application_id", "submitted_at", "defaulted"]])
    folder = snapshot_dir(root)
    _write_frame(pd.concat(apps, ignore_index=True), folder / "applications.parquet")
    _write_frame(pd.concat(bureau, ignore_index=True), folder / "bureau.parquet")
    _write_frame(pd.concat(labels, ignore_index=True), folder / "labels.parquet")
    return folder
