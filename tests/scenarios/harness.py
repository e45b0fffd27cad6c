"""The incident scenario suite's machinery, shared by tests/scenarios and bench/detection_bench.py.

One simulated business per seed: train the example model once, simulate CLEAN_DAYS clean
days and run one cycle over them (the clean run). Each scenario then continues a copy of
that business from ONSET with its incident injected, running the cycle after each
simulated day as the scheduler would, and reads which checks failed on which batch.

Labels arrive LABEL_DELAY_DAYS after an application (the config's labels.maturity is
matched), so a label-only incident at ONSET can first be seen by the cycle after the
day ONSET + LABEL_DELAY_DAYS is simulated (the day its last outcomes are observed), and
must be: LABEL_CATCH_DAY.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from app.cycle import run_cycle
from baseline_model.demo import ensure_example
from baseline_model.simulator import Incident, simulate_day, simulate_history
from checks.result import CheckResult
from core.clock import ManualClock
from core.config import VigilConfig, config_from_dict
from core.stores import OpsStore

REPO = Path(__file__).resolve().parents[2]
MONITOR_CONFIG = REPO / "baseline_model" / "configs" / "monitor.yaml"
START = date(2026, 3, 2)
CLEAN_DAYS = 30
ONSET = START + timedelta(days=CLEAN_DAYS)
LABEL_DELAY_DAYS = 3
LABEL_CATCH_DAY = LABEL_DELAY_DAYS  # days after onset of the cycle that first sees the onset batch's labels
SNAPSHOT_DAYS = 20
DEFAULT_VOLUME = 400
# Checks that read matured labels (the live test set); a label-only incident must be
# caught by one of these and by nothing else before its labels mature.
LABEL_CHECKS = frozenset({"auc", "precision", "recall", "brier", "calibration_drift", "kpi"})


def scenario_volume() -> int:
    """Applications per weekday; VIGIL_SCENARIO_VOLUME runs the suite bigger by hand."""
    text = os.environ.get("VIGIL_SCENARIO_VOLUME", str(DEFAULT_VOLUME))
    try:
        volume = int(text)
    except ValueError:
        raise ValueError(f"VIGIL_SCENARIO_VOLUME={text!r} is not an integer (hint: e.g. 400 or 2000)") from None
    if volume < 100:
        raise ValueError(f"VIGIL_SCENARIO_VOLUME={volume}: below 100 rows a day the checks skip (min_rows)")
    return volume


def scenario_config_dict(volume: int) -> dict[str, Any]:
    """The example's monitoring config scaled to `volume` rows a day, labels maturing after the delay."""
    data: dict[str, Any] = yaml.safe_load(MONITOR_CONFIG.read_text())
    for table in data["etl_tables"]:
        if "expected_rows" in table:
            table["expected_rows"] = [volume // 2, volume * 2]
    data["labels"]["maturity"] = f"{LABEL_DELAY_DAYS}d"
    return data


def scenario_config(root: Path, volume: int) -> VigilConfig:
    data = scenario_config_dict(volume)
    file = root / "monitor.yaml"
    if not file.exists():
        file.write_text(yaml.safe_dump(data))
    return config_from_dict(data, file=str(file), root=root)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time())


def cycle_clock(day: date) -> ManualClock:
    """Wall time of the cycle that runs after `day` was delivered: early next morning."""
    return ManualClock(datetime.combine(day + timedelta(days=1), time(6, 0)))


def after_onset(result: CheckResult) -> bool:
    """The result is about the onset batch or a later one."""
    return result.batch is not None and result.batch >= day_start(ONSET)


def batch_of(result: CheckResult) -> datetime:
    if result.batch is None:
        raise AssertionError(f"{result.check} {result.subject}: result without a batch")
    return result.batch


@dataclass(frozen=True)
class Scenario:
    """An incident injected at ONSET, and the checks that must catch it.

    expected: check names of which at least one must fail on a subject containing
    `subject`; families: the families those checks belong to (asserted too).
    days: days simulated from ONSET (a cycle after each, or only the first and the
    last for label-based scenarios).
    """

    name: str
    kind: str
    size: str
    incidents: tuple[Incident, ...]
    families: frozenset[str]
    expected: frozenset[str]
    subject: str
    days: int = 1
    label_based: bool = False
    forbidden: frozenset[str] = frozenset()  # checks that must NOT fail (e.g. unit_change on plain drift)


def incident_at_onset(kind: str, column: str | None = None, size: float | None = None, **kw: Any) -> Incident:
    return Incident(kind, ONSET, column, size, **kw)


DRIFT_CHECKS = frozenset({"psi", "jensen_shannon", "wasserstein", "ks"})
# A downturn: every applicant's default odds rise, which only the labels show.
DOWNTURN = tuple(
    incident_at_onset("concept_drift", "home_ownership", 1.2, value=v) for v in ("RENT", "MORTGAGE", "OWN")
)
LABEL_DAYS = LABEL_CATCH_DAY + 2  # onset .. two days after its labels matured

# Sizes: what a real upstream fault or population change looks like, at the smallest size
# the default volume (400 a weekday) catches reliably. Label-only incidents are limited by
# the labels of one batch (about 350 approved rows, 30 defaults): at 400 a day a renters'
# concept drift of +1.0 log-odds only warns, so the suite uses +1.5 and the benchmark
# shows +1.0 caught at 2000 a day; bench/detection_bench.py also sweeps smaller sizes.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("unit_income_thousands", "unit_change", "income x0.001 (USD -> thousands of USD)",
             (incident_at_onset("unit_change", "income", 0.001),), frozenset({"unit_change"}), frozenset({"unit_change"}), "income"),
    Scenario("unit_rate_percent_to_fraction", "unit_change", "interest_rate x0.01 (percent -> fraction)",
             (incident_at_onset("unit_change", "interest_rate", 0.01),), frozenset({"unit_change"}), frozenset({"unit_change"}),
             "interest_rate"),
    Scenario("unit_utilisation_fraction_to_percent", "unit_change", "utilisation x100 (fraction -> percent)",
             (incident_at_onset("unit_change", "utilisation", 100.0),), frozenset({"unit_change"}), frozenset({"unit_change"}),
             "utilisation"),
    Scenario("null_spike_10pct", "nulls", "10% of bureau.credit_score null",
             (incident_at_onset("nulls", "credit_score", 0.10),), frozenset({"input_quality"}), frozenset({"null_rate"}), "credit_score"),
    Scenario("null_spike_3pct", "nulls", "3% of bureau.credit_score null",
             (incident_at_onset("nulls", "credit_score", 0.03),), frozenset({"input_quality"}), frozenset({"null_rate"}), "credit_score"),
    Scenario("dropped_column", "dropped_column", "applications.employment_years missing",
             (incident_at_onset("dropped_column", "employment_years"),), frozenset({"input_quality"}), frozenset({"schema"}),
             "applications"),
    Scenario("renamed_column", "renamed_column", "applications.income renamed income_v2",
             (incident_at_onset("renamed_column", "income"),), frozenset({"input_quality"}), frozenset({"schema"}), "applications"),
    Scenario("retyped_column", "retyped_column", "applications.income delivered as strings",
             (incident_at_onset("retyped_column", "income"),), frozenset({"input_quality"}), frozenset({"schema"}), "applications"),
    Scenario("stale_bureau", "stale_table", "bureau extract not delivered for 2 days",
             (incident_at_onset("stale_table", "bureau", duration_days=2),), frozenset({"input_quality"}),
             frozenset({"freshness", "volume"}), "bureau", days=2),
    Scenario("duplicated_rows", "duplicates", "5% of applications rows repeated",
             (incident_at_onset("duplicates", "applications", 0.05),), frozenset({"input_quality"}), frozenset({"duplicate_ids"}),
             "applications"),
    Scenario("volume_drop", "volume_drop", "applications at 40% of the usual volume",
             (incident_at_onset("volume_drop", "applications", 0.4),), frozenset({"input_quality"}), frozenset({"volume"}), "applications"),
    Scenario("new_category", "new_category", "5% of purpose = 'crypto'",
             (incident_at_onset("new_category", "purpose", 0.05),), frozenset({"input_quality"}), frozenset({"unseen_category"}), "purpose"),
    Scenario("covariate_drift_0.5sd", "covariate_drift", "credit_score shifted -0.5 sd (persists)",
             (incident_at_onset("covariate_drift", "credit_score", -0.5),), frozenset({"feature_drift"}), DRIFT_CHECKS,
             "predictions.credit_score", forbidden=frozenset({"unit_change"})),
    Scenario("covariate_drift_0.3sd", "covariate_drift", "credit_score shifted -0.3 sd (persists)",
             (incident_at_onset("covariate_drift", "credit_score", -0.3),), frozenset({"feature_drift"}), DRIFT_CHECKS,
             "predictions.credit_score", forbidden=frozenset({"unit_change"})),
    Scenario("prediction_shift", "prediction_shift", "served scores +0.05 (mean score ~0.10)",
             (incident_at_onset("prediction_shift", None, 0.05),), frozenset({"prediction"}), frozenset({"score_drift"}), "predictions.score"),
    Scenario("concept_drift_renters", "concept_drift", "RENT default log-odds +1.5 (odds x4.5; persists)",
             (incident_at_onset("concept_drift", "home_ownership", 1.5, value="RENT"),), frozenset({"performance", "prediction"}),
             LABEL_CHECKS, "model", days=LABEL_DAYS, label_based=True),
    Scenario("kpi_drop_downturn", "kpi_drop", "all default log-odds +1.2 (downturn; persists)",
             DOWNTURN, frozenset({"performance"}), frozenset({"kpi"}), "model.default_rate_approved", days=LABEL_DAYS,
             label_based=True),
)


def scenario(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r} (hint: one of {', '.join(s.name for s in SCENARIOS)})")


@dataclass
class Business:
    """One seed's trained model, clean history and the clean run's results."""

    root: Path
    seed: int
    volume: int
    clean_results: list[CheckResult]
    false_alarm_budget: float

    def config(self, root: Path | None = None) -> VigilConfig:
        return scenario_config(root or self.root, self.volume)


def build_business(root: Path, seed: int, volume: int, clean_days: int = CLEAN_DAYS) -> Business:
    """Train once, simulate the clean days, run the cycle over them (the clean run)."""
    root.mkdir(parents=True, exist_ok=True)
    ops = OpsStore(root / "ops.sqlite")
    clock = ManualClock(datetime.combine(START + timedelta(days=clean_days), time(6, 0)))
    ensure_example(root, ops, today=START + timedelta(days=clean_days), history_days=clean_days + 1,
                   snapshot_days=SNAPSHOT_DAYS, snapshot_volume=volume, seed=seed, clock=clock, progress=False)
    simulate_history(root, START, clean_days, seed, volume=volume, ops=ops, label_delay_days=LABEL_DELAY_DAYS)
    cfg = scenario_config(root, volume)
    report = run_cycle(cfg, clock=clock, notify=False)
    if report.status != "ok":
        raise RuntimeError(f"clean run of seed {seed} failed: {report.error}")
    return Business(root, seed, volume, list(report.results), cfg.checks.false_alarm_budget)


@dataclass
class ScenarioRun:
    """What the cycles said after a scenario's incident."""

    scenario: Scenario
    seed: int
    # (day of the cycle, result) for every fail on a batch at or after ONSET.
    fails: list[tuple[date, CheckResult]] = field(default_factory=list)
    # Results of the last cycle that ran before the incident's labels matured (label-based only).
    before_maturity: list[CheckResult] = field(default_factory=list)
    root: Path | None = None

    def expected_fails(self) -> list[tuple[date, CheckResult]]:
        s = self.scenario
        return [(d, r) for d, r in self.fails if r.check in s.expected and s.subject in r.subject]

    @property
    def delay_days(self) -> int | None:
        """Days from ONSET to the cycle that first caught it (0: the cycle right after the onset day)."""
        caught = self.expected_fails()
        return min((d - ONSET).days for d, _ in caught) if caught else None

    @property
    def caught(self) -> bool:
        delay = self.delay_days
        if delay is None:
            return False
        allowed = LABEL_CATCH_DAY if self.scenario.label_based else 1
        return delay <= allowed

    def failing(self) -> set[tuple[str, str, str]]:
        return {(r.family, r.check, r.subject) for _, r in self.fails}


def run_scenario(business: Business, sc: Scenario, workdir: Path,
                 on_day: Callable[[Path, date], None] | None = None) -> ScenarioRun:
    """Continue a copy of the clean business with the scenario's incident; a cycle per day."""
    root = workdir / f"{sc.name}-{business.seed}"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(business.root, root)
    ops = OpsStore(root / "ops.sqlite")
    cfg = business.config(root)
    run = ScenarioRun(sc, business.seed, root=root)
    for offset in range(sc.days):
        day = ONSET + timedelta(days=offset)
        simulate_day(root, day, business.seed, business.volume, sc.incidents, LABEL_DELAY_DAYS, True, ops,
                     start=START)
        if on_day is not None:
            on_day(root, day)
        last = offset == sc.days - 1
        if sc.label_based and offset not in (0, LABEL_CATCH_DAY - 1, LABEL_CATCH_DAY) and not last:
            continue  # skip cycles that cannot see anything new: faster, same verdict
        report = run_cycle(cfg, clock=cycle_clock(day), notify=False)
        if report.status != "ok":
            raise RuntimeError(f"scenario {sc.name} seed {business.seed}: cycle after {day} failed: {report.error}")
        if sc.label_based and offset == LABEL_CATCH_DAY - 1:
            run.before_maturity = list(report.results)
        run.fails += [(day, r) for r in report.results if r.status == "fail" and after_onset(r)]
    return run


@dataclass(frozen=True)
class CleanSummary:
    batches: int
    evaluated: int  # results that reached a verdict (ok, warn, fail)
    warns: int
    fails: list[CheckResult]
    batches_with_fail: int
    batches_with_warn: int

    @property
    def warn_rate(self) -> float:
        return self.warns / self.evaluated if self.evaluated else 0.0


def summarize_clean(results: Sequence[CheckResult]) -> CleanSummary:
    verdicts = [r for r in results if r.status in ("ok", "warn", "fail")]
    fails = [r for r in verdicts if r.status == "fail"]
    warns = [r for r in verdicts if r.status == "warn"]
    return CleanSummary(
        batches=len({r.batch for r in results}),
        evaluated=len(verdicts),
        warns=len(warns),
        fails=fails,
        batches_with_fail=len({r.batch for r in fails}),
        batches_with_warn=len({r.batch for r in warns}),
    )
