"""Scenarios on real data nobody here generated: data sets that scikit-learn and statsmodels
ship offline (never the downloading ``fetch_*``), shared by tests/scenarios and
bench/detection_bench.py.

Per data set: a binary target, one scikit-learn model trained on a random third of the rows,
a reference (features, out-of-sample score and label) from another third, and batches of
``batch_rows`` rows drawn from the held-back rest (clean batches). Each day lands three
files, as a real deployment would: the upstream extract ``inputs`` (the raw columns), the
prediction log (the model's score of the served features, the features copied from the
extract along ``lineage``) and the outcomes of the day's rows (``maturity: 1d``, so a batch's
labels are checked by the next day's cycle). Incidents are injected into the extract, so
the served features and the scores see them as production would.

A *page* is an alert that turned firing and was not inhibited: what the default route
notifies (warnings included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from app.cycle import CycleReport, run_cycle
from core.clock import ManualClock
from core.config import VigilConfig, config_from_dict
from core.stores import OpsStore

START = date(2026, 5, 4)
REAL_DATASETS = ("fair", "randhie", "digits")
HOOK_ENV = "VIGIL_REAL_DATA_HOOK"


@dataclass(frozen=True)
class RealData:
    """A real data set as a binary task: features (numeric and categorical), target, batch size."""

    name: str
    source: str  # where it comes from, for the report
    frame: pd.DataFrame
    y: np.ndarray
    categorical: tuple[str, ...]
    batch_rows: int
    unit_column: str  # the column the x1000 unit change hits
    null_column: str  # the column that gets 20% nulls
    shift_column: str  # the column shifted by 0.5 sd

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.frame.columns if c not in self.categorical]


def _fair() -> RealData:
    import statsmodels.api as sm

    data = sm.datasets.fair.load_pandas().data
    frame = data.drop(columns=["affairs"]).astype(float)
    # Occupation is a code (1 student .. 6 professional): a real categorical column.
    frame["occupation"] = "occ" + data["occupation"].astype(int).astype(str)
    return RealData("fair", "statsmodels.datasets.fair (6,366 marriages, 1974 survey)", frame,
                    (data["affairs"] > 0).to_numpy(int), ("occupation",), 400, "age", "yrs_married", "rate_marriage")


def _randhie() -> RealData:
    import statsmodels.api as sm

    data = sm.datasets.randhie.load_pandas().data
    frame = data.drop(columns=["mdvis", "hlthg", "hlthf", "hlthp"]).astype(float)
    # The self-rated health dummies as the one categorical column they encode.
    health = np.select([data["hlthg"] == 1, data["hlthf"] == 1, data["hlthp"] == 1], ["good", "fair", "poor"], "excellent")
    frame["health"] = health
    return RealData("randhie", "statsmodels.datasets.randhie (20,190 RAND health-insurance person-years)", frame,
                    (data["mdvis"] > 0).to_numpy(int), ("health",), 1000, "lpi", "disea", "fmde")


def _digits() -> RealData:
    from sklearn.datasets import load_digits

    bunch = load_digits(as_frame=True)
    pixels = bunch.data
    keep = pixels.var().sort_values(ascending=False).index[:10]
    frame = pixels[keep].astype(float).rename(columns=lambda c: c.replace("pixel_", "px"))
    # No categorical column: add one from the data itself (how much ink the digit uses).
    ink = pixels.sum(axis=1)
    frame["ink"] = pd.qcut(ink, 4, labels=["light", "medium", "heavy", "bold"]).astype(str)
    cols = list(frame.columns)
    return RealData("digits", "sklearn.datasets.load_digits (1,797 8x8 handwritten digits)", frame,
                    (bunch.target >= 5).to_numpy(int), ("ink",), 200, cols[0], cols[1], cols[2])


LOADERS: dict[str, Callable[[], RealData]] = {"fair": _fair, "randhie": _randhie, "digits": _digits}


def load_real(name: str) -> RealData:
    try:
        return LOADERS[name]()
    except KeyError:
        raise KeyError(f"no real data set {name!r} (hint: one of {', '.join(LOADERS)})") from None


# ---- model, reference, pool ---------------------------------------------------------------


def fit_model(data: RealData, rows: np.ndarray) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), data.numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(data.categorical)),
    ])
    model = make_pipeline(prep, LogisticRegression(max_iter=2000))
    model.fit(data.frame.iloc[rows], data.y[rows])
    return model


@dataclass
class RealBusiness:
    """One data set's deployment: model, reference, the pool of held-back rows, the landing root."""

    data: RealData
    root: Path
    seed: int
    model: Any
    pool: np.ndarray  # row indices batches are drawn from
    day: int = 0
    reports: list[CycleReport] = field(default_factory=list)

    @property
    def cfg(self) -> VigilConfig:
        return config_from_dict(config_dict(self.data), file=str(self.root / "monitor.yaml"), root=self.root)

    @property
    def ops(self) -> OpsStore:
        return OpsStore(self.cfg.ops_path)

    def batch(self, rng: np.random.Generator) -> pd.DataFrame:
        """A clean batch: batch_rows rows of the pool, without replacement."""
        n = min(self.data.batch_rows, len(self.pool))
        rows = rng.choice(self.pool, size=n, replace=False)
        out = self.data.frame.iloc[rows].reset_index(drop=True).copy()
        out["_y"] = self.data.y[rows]
        return out


def config_dict(data: RealData) -> dict[str, Any]:
    features = [
        {"name": c, "type": "categorical" if c in data.categorical else "numeric", "lineage": f"inputs.{c}"}
        for c in data.frame.columns
    ]
    return {
        "model": {"name": data.name, "task": "binary", "threshold": 0.5},
        "predictions": {
            "source": {"path": "landing/predictions", "glob": "predictions_*.parquet"},
            "id_column": "row_id", "timestamp_column": "ts", "score_column": "score",
        },
        "features": features,
        "etl_tables": [
            {"name": "inputs", "source": {"path": "landing/etl/inputs", "glob": "inputs_*.parquet"}, "key": "row_id",
             "timestamp_column": "ts"},
            {"name": "outcomes", "source": {"path": "landing/etl/outcomes", "glob": "outcomes_*.parquet"},
             "timestamp_column": "observed_at"},
        ],
        "labels": {"table": "outcomes", "join_key": "row_id", "label_column": "y", "maturity": "1d"},
        "reference": {"kind": "file", "path": "reference.parquet"},
        "batch": {"window": "1d"},
        "alerts": {"receivers": [{"name": "oncall", "kind": "alertmanager", "url_env": HOOK_ENV}],
                   "routes": [{"receiver": "oncall", "group_by": ["check", "subject"]}]},
    }


def build(data: RealData, root: Path, seed: int) -> RealBusiness:
    """Split the rows (train / reference / pool), fit the model, write the config and the reference."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.frame))
    third = len(order) // 3
    train, ref, pool = order[:third], order[third:2 * third], order[2 * third:]
    model = fit_model(data, train)
    reference = data.frame.iloc[ref].reset_index(drop=True).copy()
    reference["score"] = model.predict_proba(data.frame.iloc[ref])[:, 1]
    reference["y"] = data.y[ref]
    root.mkdir(parents=True, exist_ok=True)
    reference.to_parquet(root / "reference.parquet", index=False)
    (root / "monitor.yaml").write_text(yaml.safe_dump(config_dict(data)))
    return RealBusiness(data, root, seed, model, pool)


# ---- a day of data --------------------------------------------------------------------------


Injection = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]


def land_day(biz: RealBusiness, inject: Injection | None = None, *, rows: pd.DataFrame | None = None,
             timestamps: list[Any] | None = None, flip_labels: float = 0.0) -> date:
    """Write the next day's extract, predictions and outcomes; returns the day."""
    day = START + timedelta(days=biz.day)
    rng = np.random.default_rng([biz.seed, biz.day])
    batch = rows if rows is not None else biz.batch(rng)
    if inject is not None:
        batch = inject(batch, rng)
    n = len(batch)
    start = datetime.combine(day, time())
    seconds = np.sort(rng.integers(0, 86_400, size=n))
    ts = timestamps if timestamps is not None else [start + timedelta(seconds=int(s)) for s in seconds]
    ids = [f"{biz.data.name}-{biz.day:03d}-{i:05d}" for i in range(n)]
    features = batch[list(biz.data.frame.columns)]
    extract = features.copy()
    extract.insert(0, "ts", pd.Series(ts, dtype="datetime64[us]") if timestamps is None else pd.array(ts, dtype=object))
    extract.insert(0, "row_id", ids)
    predictions = extract.copy()
    predictions["score"] = biz.model.predict_proba(features)[:, 1]
    y = batch["_y"].to_numpy().copy()
    if flip_labels:
        flip = rng.random(n) < flip_labels
        y[flip] = 1 - y[flip]
    outcomes = pd.DataFrame({"row_id": ids, "observed_at": [start + timedelta(hours=23)] * n, "y": y})
    for folder, name, frame in (("landing/etl/inputs", "inputs", extract), ("landing/predictions", "predictions", predictions),
                                ("landing/etl/outcomes", "outcomes", outcomes)):
        path = biz.root / folder / f"{name}_{day.isoformat()}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    biz.day += 1
    return day


def cycle(biz: RealBusiness, day: date, notify: bool = True) -> CycleReport:
    """The cycle that runs early the next morning (wall time)."""
    clock = ManualClock(datetime.combine(day + timedelta(days=1), time(6, 0), tzinfo=UTC))
    report = run_cycle(biz.cfg, clock=clock, notify=notify)
    biz.reports.append(report)
    return report


def pages(biz: RealBusiness, report: CycleReport) -> list[dict[str, Any]]:
    """Alerts this cycle turned firing and not inhibited: what the default route notifies."""
    fired = {t.fingerprint: t for t in report.alerts.transitions if t.to_state == "firing"} if report.alerts else {}
    if not fired:
        return []
    rows = biz.ops.query(
        f"SELECT fingerprint, check_name, subject, severity, inhibited_by, started_batch, annotations FROM alerts "  # noqa: S608
        f"WHERE fingerprint IN ({','.join('?' * len(fired))})",
        tuple(fired),
    )
    out = []
    for r in rows:
        if not r["inhibited_by"]:
            out.append({"check": r["check_name"], "subject": r["subject"], "severity": r["severity"],
                        "batch": fired[r["fingerprint"]].batch, "annotations": r["annotations"]})
    return sorted(out, key=lambda p: (p["batch"], p["check"], p["subject"]))


# ---- the stated incidents ---------------------------------------------------------------------


def unit_change(column: str, factor: float = 1000.0) -> Injection:
    def inject(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out = batch.copy()
        out[column] = out[column] * factor
        return out
    return inject


def nulls(column: str, share: float = 0.2) -> Injection:
    def inject(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out = batch.copy()
        out.loc[rng.random(len(out)) < share, column] = np.nan
        return out
    return inject


def shift(column: str, sds: float, sd: float) -> Injection:
    def inject(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out = batch.copy()
        out[column] = out[column] + sds * sd
        return out
    return inject


def new_category(column: str, share: float = 0.05, value: str = "never_seen") -> Injection:
    def inject(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out = batch.copy()
        out.loc[rng.random(len(out)) < share, column] = value
        return out
    return inject


def one_outlier(column: str, factor: float = 1e6) -> Injection:
    def inject(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out = batch.copy()
        i = int(rng.integers(len(out)))
        out.loc[i, column] = (abs(float(out[column].max())) + 1.0) * factor
        return out
    return inject


@dataclass(frozen=True)
class RealIncident:
    name: str
    inject: Injection
    column: str  # the column whose alerts must page


def incidents_for(data: RealData) -> list[RealIncident]:
    """The four stated incidents of one data set, on its columns."""
    numeric = data.frame[data.numeric]
    sd = float(numeric[data.shift_column].std())
    cat = data.categorical[0]
    return [
        RealIncident(f"unit x1000 on {data.unit_column}", unit_change(data.unit_column), data.unit_column),
        RealIncident(f"20% nulls in {data.null_column}", nulls(data.null_column), data.null_column),
        RealIncident(f"0.5-sd shift of {data.shift_column}", shift(data.shift_column, 0.5, sd), data.shift_column),
        RealIncident(f"new category in {cat} at 5%", new_category(cat), cat),
    ]


@dataclass
class RealRun:
    """What happened on one data set: clean-day pages, incident pages, the outlier day's pages."""

    data: RealData
    clean_pages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # day -> pages about that batch
    incident_pages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # incident -> pages about its batch
    incident_columns: dict[str, str] = field(default_factory=dict)  # incident -> the column it hit
    outlier_pages: list[dict[str, Any]] = field(default_factory=list)
    unit_factors: list[str] = field(default_factory=list)
    estimate_errors: list[float] = field(default_factory=list)  # |estimated - realized AUC| once labels matured
    clean_estimate_errors: list[float] = field(default_factory=list)  # the same, clean batches only
    root: Path | None = None  # where the deployment's files are (the bench runs its peers on them)
    days: list[tuple[str, str]] = field(default_factory=list)  # (kind: clean / incident name / outlier, day)
    peer_verdicts: dict[str, dict[str, str]] = field(default_factory=dict)  # day -> peer -> alarm / quiet / error (bench)


def _batch_iso(day: date) -> str:
    return datetime.combine(day, time()).isoformat()


def run_real(name: str, root: Path, seed: int = 1, clean_days: int = 5, notify: bool = False) -> RealRun:
    """Clean days, each incident on its own day (a clean day after each), then a clean day with one outlier."""
    data = load_real(name)
    biz = build(data, root, seed)
    run = RealRun(data, root=root)
    plan: list[tuple[str, RealIncident | None]] = [("clean", None)] * clean_days
    for inc in incidents_for(data):
        plan += [("incident", inc), ("clean", None)]
    plan += [("outlier", None)]
    days: list[tuple[str, RealIncident | None, date]] = []
    all_pages: list[dict[str, Any]] = []
    for kind, inc in plan:
        inject = inc.inject if inc else (one_outlier(data.numeric[0]) if kind == "outlier" else None)
        day = land_day(biz, inject)
        days.append((kind, inc, day))
        all_pages += pages(biz, cycle(biz, day, notify=notify))
    last = land_day(biz)  # one more clean day: the last batch's labels mature
    all_pages += pages(biz, cycle(biz, last, notify=notify))
    for kind, inc, day in days:
        run.days.append((inc.name if inc else kind, day.isoformat()))
        about = [p for p in all_pages if p["batch"] == _batch_iso(day)]
        if kind == "clean":
            run.clean_pages[day.isoformat()] = about
        elif kind == "outlier":
            run.outlier_pages = about
        else:
            assert inc is not None
            run.incident_pages[inc.name] = about
            run.incident_columns[inc.name] = inc.column
    for r in biz.reports:
        for res in r.results:
            if res.check == "unit_change" and res.status == "fail":
                run.unit_factors.append(f"{res.subject}: {res.evidence.get('conversion') or 'unnamed'}")
            if res.check == "estimated_performance" and res.evidence.get("realized_auc") is not None:
                est = res.value
                if est is not None:
                    error = abs(float(est) - float(res.evidence["realized_auc"]))
                    run.estimate_errors.append(error)
                    if res.batch is not None and res.batch.date().isoformat() in run.clean_pages:
                        run.clean_estimate_errors.append(error)
    return run
