"""Detection benchmark (issue 5): the incident scenario suite at a larger size and more seeds.

For every seed: the business of tests/scenarios/harness.py (a trained model, CLEAN_DAYS
clean days), then every scenario of the suite plus a few smaller sizes (SWEEP) injected
at ONSET. Prints, per incident: recall (caught within one batch of onset by the right
check; label-only incidents within one cycle of their labels maturing), mean detection
delay in days after onset, and false alarms per 100 clean batches, for Vigil and, on
the same batches (the served features of each day's prediction log against the
reference file), for Evidently's DataDriftPreset (defaults) and whylogs' default drift
scores (`calculate_drift_scores`).

Alarm rules for the baselines (their defaults, nothing tuned):
  evidently-col   any column's drift test fires (DriftedColumnsCount.count >= 1)
  evidently-set   dataset drift: share of drifted columns >= 0.5 (the preset's drift_share)
  whylogs         any column in drift_category 'DRIFT' (p < 0.05 by KS / chi-square)
A baseline that raises on a batch (e.g. Evidently on an all-null column) counts as not
caught and is shown in the `err` column. Vigil's false alarms are clean batches with a
failing check; its warnings are listed separately.

A second table does the same on real data nobody here generated (tests/scenarios/real_data.py:
statsmodels' `fair` and `randhie`, scikit-learn's `load_digits`, a scikit-learn model each;
batches of 200-1,000 held-back rows): per data set and stated incident (x1000 unit change,
20% nulls, 0.5-sd shift, new category at 5%), recall (paged on its own batch about the
column it hit), delay, false pages per 100 clean batches (a single extreme outlier in a clean
batch included), the unit factors named, and the estimated AUC's error once labels matured;
then the same batches through the peers (Evidently's DataDriftPreset and whylogs' drift scores,
defaults, the alarm rules above): recall per incident and false alarms per 100 clean batches.

    .venv/bin/python bench/detection_bench.py --volume 2000 --seeds 11,29,47 --jobs 2
    .venv/bin/python bench/detection_bench.py --real-only --real-seeds 1,2,3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from baseline_model.layout import predictions_path  # noqa: E402
from tests.scenarios.harness import (  # noqa: E402
    CLEAN_DAYS,
    DOWNTURN,
    LABEL_CATCH_DAY,
    LABEL_CHECKS,
    LABEL_DAYS,
    LABEL_DELAY_DAYS,
    ONSET,
    SCENARIOS,
    START,
    Business,
    Scenario,
    build_business,
    run_scenario,
    summarize_clean,
)
from tests.scenarios.harness import incident_at_onset as incident  # noqa: E402

BASELINES = ("evidently-col", "evidently-set", "whylogs")
TOOLS = ("vigil",) + BASELINES

# Smaller sizes than the suite's, to show where detection stops (bench only).
SWEEP: tuple[Scenario, ...] = (
    Scenario("null_spike_1pct", "nulls", "1% of bureau.credit_score null",
             (incident("nulls", "credit_score", 0.01),), frozenset({"input_quality"}), frozenset({"null_rate"}),
             "credit_score"),
    Scenario("covariate_drift_0.2sd", "covariate_drift", "credit_score shifted -0.2 sd (persists)",
             (incident("covariate_drift", "credit_score", -0.2),), frozenset({"feature_drift"}),
             frozenset({"psi", "jensen_shannon", "wasserstein", "ks"}), "predictions.credit_score"),
    Scenario("prediction_shift_0.02", "prediction_shift", "served scores +0.02",
             (incident("prediction_shift", None, 0.02),), frozenset({"prediction"}), frozenset({"score_drift"}),
             "predictions.score"),
    Scenario("concept_drift_renters_1.0", "concept_drift", "RENT default log-odds +1.0 (odds x2.7)",
             (incident("concept_drift", "home_ownership", 1.0, value="RENT"),),
             frozenset({"performance", "prediction"}), LABEL_CHECKS, "model", days=LABEL_DAYS, label_based=True),
    Scenario("kpi_drop_downturn_0.8", "kpi_drop", "all default log-odds +0.8",
             tuple(incident("concept_drift", "home_ownership", 0.8, value=i.label) for i in DOWNTURN),
             frozenset({"performance"}), frozenset({"kpi"}), "model.default_rate_approved", days=LABEL_DAYS,
             label_based=True),
)


# ---- baselines ---------------------------------------------------------------------------------


def feature_names(business: Business) -> list[str]:
    return [f.name for f in business.config().features]


def evidently_verdicts(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """Evidently 0.7 DataDriftPreset with its defaults: column-level and dataset-level alarms."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    try:
        snapshot = Report([DataDriftPreset(columns=columns)]).run(current_data=current[columns],
                                                                   reference_data=reference[columns])
    except Exception:  # noqa: BLE001 - any failure of the tool on a batch is its verdict
        return {"evidently-col": "error", "evidently-set": "error"}
    for metric in snapshot.dict()["metrics"]:
        if str(metric["config"].get("type", "")).endswith("DriftedColumnsCount"):
            value = metric["value"]
            return {"evidently-col": "alarm" if value["count"] >= 1 else "quiet",
                    "evidently-set": "alarm" if value["share"] >= 0.5 else "quiet"}
    return {"evidently-col": "error", "evidently-set": "error"}


class WhylogsBaseline:
    """whylogs' default drift scores (KS for numbers, chi-square for strings) against a reference profile."""

    def __init__(self, reference: pd.DataFrame, columns: list[str]) -> None:
        from core.whylogs_compat import import_whylogs

        self.why = import_whylogs()
        from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

        self.calculate = calculate_drift_scores
        self.columns = columns
        self.reference_view = self.why.log(reference[columns]).view()

    def verdict(self, current: pd.DataFrame) -> str:
        try:
            view = self.why.log(current[self.columns]).view()
            scores = self.calculate(target_view=view, reference_view=self.reference_view, with_thresholds=True)
        except Exception:  # noqa: BLE001
            return "error"
        drifted = [c for c, s in scores.items() if s is not None and s.get("drift_category") == "DRIFT"]
        return "alarm" if drifted else "quiet"


@dataclass
class Baselines:
    reference: pd.DataFrame
    columns: list[str]
    whylogs: WhylogsBaseline

    def verdicts(self, batch_file: Path) -> dict[str, str]:
        if not batch_file.exists():
            return {tool: "error" for tool in BASELINES}
        current = pd.read_parquet(batch_file)
        missing = [c for c in self.columns if c not in current.columns]
        if missing or current.empty:
            return {tool: "error" for tool in BASELINES}
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = evidently_verdicts(self.reference, current, self.columns)
            out["whylogs"] = self.whylogs.verdict(current)
        return out


def load_baselines(business: Business) -> Baselines:
    cfg = business.config()
    assert cfg.reference is not None and cfg.reference.path
    columns = feature_names(business)
    reference = pd.read_parquet(cfg.resolve(cfg.reference.path))
    return Baselines(reference, columns, WhylogsBaseline(reference, columns))


# ---- one seed ----------------------------------------------------------------------------------


@dataclass
class SeedOutcome:
    seed: int
    clean_batches: int = 0
    clean_alarms: dict[str, int] = field(default_factory=dict)  # tool -> clean batches with an alarm
    clean_errors: dict[str, int] = field(default_factory=dict)
    vigil_warn_batches: int = 0
    vigil_warns: int = 0
    vigil_verdicts: int = 0
    # scenario -> tool -> delay in days after onset (None: not caught in its window)
    delays: dict[str, dict[str, int | None]] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)
    caught_by: dict[str, set[str]] = field(default_factory=dict)  # scenario -> expected checks that failed
    seconds: float = 0.0


def allowed_delay(sc: Scenario) -> int:
    return LABEL_CATCH_DAY if sc.label_based else 1


def first_alarm(per_day: dict[int, dict[str, str]], tool: str, sc: Scenario) -> int | None:
    days = sorted(d for d, v in per_day.items() if v[tool] == "alarm" and d <= allowed_delay(sc))
    return days[0] if days else None


def run_seed(seed: int, volume: int, workdir: Path, scenarios: Sequence[Scenario], baselines: bool) -> SeedOutcome:
    started = time.perf_counter()
    logging.disable(logging.WARNING)
    out = SeedOutcome(seed)
    business = build_business(workdir / f"business-{seed}", seed, volume)
    clean = summarize_clean(business.clean_results)
    out.clean_batches = clean.batches
    out.clean_alarms["vigil"] = clean.batches_with_fail
    out.vigil_warn_batches, out.vigil_warns, out.vigil_verdicts = clean.batches_with_warn, clean.warns, clean.evaluated
    base = load_baselines(business) if baselines else None
    if base is not None:
        for tool in BASELINES:
            out.clean_alarms[tool] = out.clean_errors[tool] = 0
        for i in range(CLEAN_DAYS):
            verdicts = base.verdicts(predictions_path(business.root, START + timedelta(days=i)))
            for tool, v in verdicts.items():
                out.clean_alarms[tool] += v == "alarm"
                out.clean_errors[tool] += v == "error"
    for sc in scenarios:
        per_day: dict[int, dict[str, str]] = {}

        def on_day(root: Path, day: date, per_day: dict[int, dict[str, str]] = per_day) -> None:
            if base is not None:
                per_day[(day - ONSET).days] = base.verdicts(predictions_path(root, day))

        run = run_scenario(business, sc, workdir, on_day=on_day)
        out.delays[sc.name] = {"vigil": run.delay_days if run.caught else None}
        out.caught_by[sc.name] = {f"{r.family}/{r.check}" for _, r in run.expected_fails()}
        if base is not None:
            for tool in BASELINES:
                out.delays[sc.name][tool] = first_alarm(per_day, tool, sc)
            out.errors[sc.name] = {t: sum(v[t] == "error" for v in per_day.values()) for t in BASELINES}
        assert run.root is not None
        shutil_rmtree(run.root)
    shutil_rmtree(business.root)
    out.seconds = time.perf_counter() - started
    return out


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ---- the table ---------------------------------------------------------------------------------


def fmt_delay(delays: list[int]) -> str:
    return f"{sum(delays) / len(delays):.1f}" if delays else "-"


def table(outcomes: list[SeedOutcome], scenarios: Sequence[Scenario], tools: Sequence[str]) -> str:
    n = len(outcomes)
    head = ["incident", "size"] + [f"{t} recall" for t in tools] + [f"{t} delay" for t in tools] + ["vigil caught by", "err"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sc in scenarios:
        row = [sc.name, sc.size]
        delays = {t: [d for o in outcomes if (d := o.delays[sc.name].get(t)) is not None] for t in tools}
        # Feature-drift tools never see labels: a label-only incident is out of their reach, and
        # any alarm they raise in its window is one of their clean-day false alarms.
        blind = {t for t in tools if sc.label_based and t != "vigil"}
        row += ["n/a" if t in blind else f"{len(delays[t])}/{n}" for t in tools]
        row += ["n/a" if t in blind else fmt_delay(delays[t]) for t in tools]
        row.append(", ".join(sorted(set().union(*(o.caught_by.get(sc.name, set()) for o in outcomes)))))
        errs = [f"{t}:{sum(o.errors.get(sc.name, {}).get(t, 0) for o in outcomes)}" for t in BASELINES if t in tools]
        row.append(" ".join(e for e in errs if not e.endswith(":0")) or "")
        lines.append("| " + " | ".join(row) + " |")
    batches = sum(o.clean_batches for o in outcomes)
    row = ["clean days: false alarms / 100 batches", f"{batches} batches"]
    row += [f"{100 * sum(o.clean_alarms.get(t, 0) for o in outcomes) / batches:.1f}" for t in tools]
    row += ["" for _ in tools] + ["", ""]
    lines.append("| " + " | ".join(row) + " |")
    warn_batches = sum(o.vigil_warn_batches for o in outcomes)
    warns = sum(o.vigil_warns for o in outcomes)
    verdicts = sum(o.vigil_verdicts for o in outcomes)
    lines.append("")
    lines.append(f"Vigil on clean days: {warn_batches} of {batches} batches carry a warning "
                 f"({warns} warnings in {verdicts} check verdicts, {100 * warns / max(verdicts, 1):.2f}%; "
                 f"budget 1%); no fail counts as a false alarm above.")
    return "\n".join(lines)


def real_table(runs: list[Any]) -> str:
    """Recall, delay, false pages per 100 clean batches, unit factors named, estimate error, per real data set."""
    lines = [
        "| data set | rows/batch | incident | recall | delay (batches) | false pages /100 clean | unit factor named | est. AUC error (mean / max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_name: dict[str, list[Any]] = {}
    for r in runs:
        by_name.setdefault(r.data.name, []).append(r)
    for name, group in by_name.items():
        clean = sum(len(r.clean_pages) + 1 for r in group)  # + the outlier batch of each run
        false = sum(sum(1 for p in r.clean_pages.values() if p) + (1 if r.outlier_pages else 0) for r in group)
        errors = [e for r in group for e in r.estimate_errors]
        clean_errors = [e for r in group for e in r.clean_estimate_errors]
        err = (f"clean {sum(clean_errors) / len(clean_errors):.3f} / {max(clean_errors):.3f} (n={len(clean_errors)}); "
               f"all {sum(errors) / len(errors):.3f} / {max(errors):.3f} (n={len(errors)})") if clean_errors and errors else "n/a"
        incidents = list(group[0].incident_pages)
        for i, stated in enumerate(incidents):
            hits = 0
            for r in group:
                column = r.incident_columns[stated]
                hits += any(p["subject"] in (f"inputs.{column}", f"predictions.{column}") for p in r.incident_pages[stated])
            named = ""
            if stated.startswith("unit"):
                factors = sorted({f.split(": ", 1)[-1] for r in group for f in r.unit_factors})
                named = ", ".join(factors) or "none"
            lines.append(
                f"| {name if i == 0 else ''} | {group[0].data.batch_rows if i == 0 else ''} | {stated} | "
                f"{100 * hits / len(group):.0f}% | {'0' if hits else '-'} | "
                f"{(f'{100 * false / clean:.1f} ({false}/{clean})') if i == 0 else ''} | {named} | {err if i == 0 else ''} |"
            )
    return "\n".join(lines)


def real_peer_verdicts(run: Any) -> dict[str, dict[str, str]]:
    """Evidently and whylogs (defaults) on the same batches: each day's served features against the reference file."""
    assert run.root is not None
    columns = list(run.data.frame.columns)
    reference = pd.read_parquet(run.root / "reference.parquet")[columns]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = Baselines(reference, columns, WhylogsBaseline(reference, columns))
    return {day: base.verdicts(predictions_path(run.root, date.fromisoformat(day))) for _, day in run.days}


def run_real_data(seeds: Sequence[int], workdir: Path, peers: bool = True) -> list[Any]:
    from tests.scenarios.real_data import REAL_DATASETS, run_real

    runs = []
    for name in REAL_DATASETS:
        for seed in seeds:
            run = run_real(name, workdir / f"real-{name}-{seed}", seed=seed, clean_days=5)
            run.peer_verdicts = real_peer_verdicts(run) if peers else {}
            runs.append(run)
    return runs


def real_peer_table(runs: list[Any]) -> str:
    """Per data set: each peer's recall per stated incident (alarm on the incident's batch) and its
    false alarms per 100 clean batches (the outlier batch included), beside Vigil's."""
    tools = ("vigil",) + BASELINES
    head = ["data set", "incident"] + [f"{t} recall" for t in tools]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_name: dict[str, list[Any]] = {}
    for r in runs:
        by_name.setdefault(r.data.name, []).append(r)
    for name, group in by_name.items():
        for i, stated in enumerate(group[0].incident_pages):
            row = [name if i == 0 else "", stated]
            for tool in tools:
                hits = 0
                for r in group:
                    if tool == "vigil":
                        column = r.incident_columns[stated]
                        hits += any(p["subject"] in (f"inputs.{column}", f"predictions.{column}")
                                    for p in r.incident_pages[stated])
                    else:
                        day = next(d for kind, d in r.days if kind == stated)
                        hits += r.peer_verdicts.get(day, {}).get(tool) == "alarm"
                row.append(f"{100 * hits / len(group):.0f}%")
            lines.append("| " + " | ".join(row) + " |")
        row = [name, "false alarms / 100 clean batches"]
        for tool in tools:
            clean = [(r, d) for r in group for kind, d in r.days if kind in ("clean", "outlier")]
            if tool == "vigil":
                false = sum(bool(r.clean_pages.get(d) if kind == "clean" else r.outlier_pages)
                            for r in group for kind, d in r.days if kind in ("clean", "outlier"))
            else:
                false = sum(r.peer_verdicts.get(d, {}).get(tool) == "alarm" for r, d in clean)
            row.append(f"{100 * false / len(clean):.1f} ({false}/{len(clean)})")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def auc_drop_lines(seeds: Sequence[int], workdir: Path) -> list[str]:
    """The covariate-driven 0.01 AUC drop (tests/scenarios/auc_drop.py) per seed: the batch on which the
    estimate first failed and the cycle on which the realized AUC did, and the alerts on clean batches."""
    from tests.scenarios.auc_drop import CLEAN_DAYS as DROP_CLEAN
    from tests.scenarios.auc_drop import DAY0 as DROP_DAY0
    from tests.scenarios.auc_drop import DAYS as DROP_DAYS
    from tests.scenarios.auc_drop import SHIFT_DAYS, run_auc_drop

    shifted = set(range(DROP_CLEAN, DROP_CLEAN + SHIFT_DAYS))
    lines = ["| seed | estimate fails on batch (onset) | delay | realized AUC fails in cycle (labels matured) "
             "| est. error (mean / max) | clean batches | false pages |", "|---|---|---|---|---|---|---|"]
    for seed in seeds:
        root = workdir / f"auc-drop-{seed}"
        root.mkdir(parents=True, exist_ok=True)
        fired: list[tuple[str, Any, int]] = []
        verdicts, errors = run_auc_drop(root, seed, fired)
        est_fail = [i for i, (_, s) in enumerate(verdicts["estimated_performance"]) if s == "fail"]
        real_fail = [day for day, s in verdicts["auc"] if s == "fail"]
        first_est = est_fail[0] if est_fail else None
        clean = [d for d in range(DROP_DAYS) if d not in shifted]
        false = sorted({(c, (b - DROP_DAY0).days) for c, b, _ in fired if (b - DROP_DAY0).days not in shifted})
        errs = [abs(float(e["estimate_error"])) for e in errors if e.get("estimate_error") is not None]
        lines.append(
            f"| {seed} | {first_est if first_est is not None else '-'} ({DROP_CLEAN}) | "
            f"{first_est - DROP_CLEAN if first_est is not None else '-'} | "
            f"{real_fail[0] if real_fail else '-'} ({DROP_CLEAN + 1}) | "
            f"{(f'{sum(errs) / len(errs):.4f} / {max(errs):.4f}') if errs else 'n/a'} | {len(clean)} | "
            f"{len({d for _, d in false})}{' ' + str(false) if false else ''} |")
        shutil_rmtree(root)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--volume", type=int, default=2000, help="applications per weekday (default 2000)")
    ap.add_argument("--seeds", default="11,29,47", help="comma-separated seeds (default 11,29,47)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    ap.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    ap.add_argument("--no-sweep", action="store_true", help="only the suite's sizes")
    ap.add_argument("--no-baselines", action="store_true", help="skip Evidently and whylogs")
    ap.add_argument("--workdir", type=Path, default=None, help="where the simulated businesses go (temp dir)")
    ap.add_argument("--real-seeds", default="1,2", help="seeds of the real-data table (default 1,2)")
    ap.add_argument("--no-real", action="store_true", help="skip the real-data table")
    ap.add_argument("--real-only", action="store_true", help="only the real-data table")
    args = ap.parse_args(argv)
    if args.real_only:
        started = time.perf_counter()
        real_seeds = [int(s) for s in args.real_seeds.split(",") if s.strip()]
        with tempfile.TemporaryDirectory(prefix="vigil-real-") as tmp:
            runs = run_real_data(real_seeds, args.workdir or Path(tmp), peers=not args.no_baselines)
        print_real(runs, real_seeds, started)
        print()
        print_auc_drop(real_seeds, args.workdir)
        return 0
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds {args.seeds!r}: expected integers such as 11,29,47")
    scenarios = list(SCENARIOS) + ([] if args.no_sweep else list(SWEEP))
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        unknown = wanted - {s.name for s in scenarios}
        if unknown:
            ap.error(f"--only: unknown scenarios {sorted(unknown)} (hint: {', '.join(s.name for s in scenarios)})")
        scenarios = [s for s in scenarios if s.name in wanted]
    tools = ("vigil",) if args.no_baselines else TOOLS
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vigil-detection-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        jobs: list[Any] = [(seed, args.volume, workdir, scenarios, not args.no_baselines) for seed in seeds]
        if args.jobs > 1:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                outcomes = list(pool.map(run_seed, *zip(*jobs, strict=True)))
        else:
            outcomes = [run_seed(*job) for job in jobs]
    print(f"# Detection benchmark: {len(seeds)} seeds ({args.seeds}), {args.volume} applications a weekday, "
          f"{CLEAN_DAYS} clean days per seed, onset {ONSET} (labels after {LABEL_DELAY_DAYS} days)\n")
    print(table(outcomes, scenarios, tools))
    print(f"\nrecall: caught within one batch of onset by the expected check (label-only incidents: by the "
          f"cycle after their labels matured, day {LABEL_CATCH_DAY}); delay: mean days after onset, "
          f"caught runs only; err: batches on which a baseline raised instead of answering; n/a: the "
          f"baselines compare features only and cannot see a label-only incident.")
    print(f"wall time {time.perf_counter() - started:.0f} s "
          f"(per seed: {', '.join(f'{o.seed}: {o.seconds:.0f} s' for o in outcomes)})")
    if not args.no_real:
        started = time.perf_counter()
        real_seeds = [int(s) for s in args.real_seeds.split(",") if s.strip()]
        with tempfile.TemporaryDirectory(prefix="vigil-real-") as tmp:
            runs = run_real_data(real_seeds, args.workdir or Path(tmp), peers=not args.no_baselines)
        print()
        print_real(runs, real_seeds, started)
        print()
        print_auc_drop(real_seeds, args.workdir)
    return 0


def print_real(runs: list[Any], seeds: Sequence[int], started: float) -> None:
    print(f"# Real data: {', '.join(sorted({r.data.source for r in runs}))}; seeds {', '.join(map(str, seeds))}; "
          "a scikit-learn model per data set\n")
    print(real_table(runs))
    if any(getattr(r, "peer_verdicts", None) for r in runs):
        print("\nThe same batches through the peers (defaults, nothing tuned; alarm rules as in the first table):\n")
        print(real_peer_table(runs))
    print("\nrecall: paged (an alert turned firing, not inhibited) on the incident's own batch about the column it hit; "
          "false pages: clean batches (including one with a single extreme outlier) on which anything paged; "
          "est. AUC error: |estimated - realized AUC| per batch once its labels matured, on clean batches and on all "
          "(an incident that makes the scores miscalibrated, such as a x1000 unit change, makes the estimate wrong by design: "
          "it assumes calibrated scores).")
    print(f"wall time {time.perf_counter() - started:.0f} s")


def print_auc_drop(seeds: Sequence[int], workdir: Path | None) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vigil-auc-drop-") as tmp:
        lines = auc_drop_lines(seeds, workdir or Path(tmp))
    print("# Covariate-driven 0.01 AUC drop (issue 11): 4,000 rows a batch, reference-chunk AUC spread about 0.003; "
          "batches 5 and 6 shifted, labels after 1 day\n")
    print("\n".join(lines))
    print("\nThe peers above compare features only: none of them estimates performance before labels. "
          "false pages: clean batches (0-4, 7) on which any alert turned firing.")
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
