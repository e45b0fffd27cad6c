"""One false-alarm budget for a model's performance checks on a batch, not one per check.

A binary model runs about six performance checks on every batch (estimated AUC, then
realized AUC, precision, recall and Brier score once its labels mature; a multiclass model
dozens). Each at the whole budget (1%) would page a clean batch several times in a hundred.
So the model's performance family on one batch shares ``checks.false_alarm_budget``, as the
segment checks do (checks.segments.run):

- Members: every check of the performance family except ``kpi`` (realized metrics of every
  task: auc, precision, recall, brier, mae, rmse, rmsle, mape, macro_auc, log_loss and the
  per-class ones; estimated ones: estimated_performance per score column, estimated_mae,
  estimated_rmse). A KPI's bounds are the business's own limits, each chosen on purpose and
  judged against that limit rather than against the reference, so each KPI keeps the whole
  budget. ``calibration_drift`` belongs to the prediction family and is not a member either.
- The estimated checks are judged in the batch's arrival cycle, before the realized ones
  exist, and re-run when its labels mature; a verdict must not change when labels arrive,
  so a Holm procedure across both cycles is impossible. The estimated checks get a fixed
  share, half the budget as for the segment checks (the whole budget when the config runs no
  realized check; none when it runs no estimate), split evenly between them (Bonferroni,
  counted from the config, not from what ran): a binary model's one estimate at budget / 2,
  in every cycle.
- The realized checks, all judged in the cycle in which the labels mature, share the rest
  under Holm's step-down procedure over the ones that judged the batch (a skipped check
  takes no share): each starts at share / m; when one is rejected its tail is split evenly
  between the others still standing (share / (m - 1) each, and so on). Holm keeps the
  probability of any false page within the share for any dependence between the checks
  (AUC, precision and recall move together) and never pages less than Bonferroni.
- An estimate rejected on the batch passes its tail on to the realized check of the same
  metric (estimated_performance -> auc, or class_auc of its class; estimated_mae -> mae;
  estimated_rmse -> rmse; to all realized checks when that one did not judge the batch).
  This is the graphical procedure of Bretz et al. (2009), of which Holm is the case with even
  transitions: it keeps the same family-wise guarantee for any dependence, and weight only
  ever flows from the arrival cycle to the label cycle, never back, so no estimated verdict
  changes when labels arrive. It is what lets the realized AUC confirm, on the first cycle
  after the labels mature, a 0.01 drop the estimate flagged (2.5 to 3 sigma at 4,000 rows).
  Half and half, rather than a share per check, is what makes that confirmation reliable:
  the estimate's whole half reaches the AUC (tail budget / 2 + budget / 8 for a binary model).
- Together: P(any false performance page of the model on a clean batch) <= budget.

A check fails when its p-value is below its tail AND its drop exceeds its minimum effect
(the floor stays). A check whose ``false_alarm_budget`` is set in ``checks.params`` (or a
feature's checks) is taken out of the family and uses that value as its own tail.
Every judged member's evidence names its family, the family's size, its share, the
correction, the tail it was judged at and its p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from checks.result import CheckResult
from checks.spec import Family

Part = Literal["estimated", "realized"]
ESTIMATED = frozenset({"estimated_performance", "estimated_mae", "estimated_rmse"})
OUTSIDE = frozenset({"kpi"})  # business limits: each KPI keeps the whole budget (see above)


def part_of(name: str, family: str) -> Part | None:
    """Which part of the performance family a check belongs to (None: not a member)."""
    if family != Family.PERFORMANCE or name in OUTSIDE:
        return None
    return "estimated" if name in ESTIMATED else "realized"


def opted_out(name: str, cfg: Any, feature: Any = None) -> bool:
    """The config sets this check's own false_alarm_budget: it keeps it, outside the family."""
    if "false_alarm_budget" in cfg.checks.params.get(name, {}):
        return True
    return feature is not None and "false_alarm_budget" in feature.checks.get(name, {})


@dataclass(frozen=True)
class PerformanceFamily:
    """The model's performance checks on one batch: how many of each part, and the budget."""

    budget: float
    estimated: int  # (check, subject) pairs the config runs, counted once per run
    realized: int

    @property
    def size(self) -> int:
        return self.estimated + self.realized

    def share(self, part: Part) -> float:
        """The part's share of the budget: half each when the config runs both parts."""
        if self.estimated and self.realized:
            return self.budget / 2
        return self.budget

    def tail(self, part: Part) -> float:
        """Each estimated check's tail (Bonferroni within the estimated share), and the
        provisional tail of a realized one before Holm's decision."""
        return self.share(part) / max(self.estimated if part == "estimated" else self.realized, 1)

    def evidence(self, part: Part, tail: float, judged: int, pvalue: float | None,
                 passed: float = 0.0) -> dict[str, Any]:
        out = {
            "alarm_family": "performance checks of the model on this batch",
            "family_size": self.size, "family_budget": self.budget,
            "family_part": part, "family_part_size": judged if part == "realized" else self.estimated,
            "family_part_budget": self.share(part),
            "correction": "holm (graphical: estimates pass their tail on)" if part == "realized" else "bonferroni",
            "tail": tail, "pvalue": pvalue,
        }
        if passed:
            out["tail_passed_from_estimate"] = passed
        return out


def holm_tails(pvalues: Sequence[float], tails: Sequence[float]) -> list[float]:
    """The tail each test is judged at by Holm's procedure with starting tails ``tails`` (equal
    tails alpha / m: Holm's step-down at alpha; unequal: weighted Holm).

    While some test still standing has p < its tail, reject it and split its tail evenly over
    the tests still standing. A rejected test keeps the tail it was rejected at, the others
    end at their last tail, so a test is rejected exactly when p < its returned tail. The
    result does not depend on which rejectable test goes first."""
    out = [float(t) for t in tails]
    standing = set(range(len(out)))
    while True:
        rejectable = [i for i in standing if pvalues[i] < out[i]]
        if not rejectable:
            return out
        i = min(rejectable, key=lambda k: (pvalues[k], k))
        standing.discard(i)
        for j in standing:
            out[j] += out[i] / len(standing)


def pvalue_of(res: CheckResult) -> float | None:
    p = res.evidence.get("pvalue")
    return float(p) if isinstance(p, int | float) and math.isfinite(p) else None


def judged(res: CheckResult) -> bool:
    return res.status in ("ok", "warn", "fail") and pvalue_of(res) is not None


def explain(res: CheckResult, fam: PerformanceFamily, part: Part, tail: float, size: int,
            passed: float = 0.0) -> CheckResult:
    """Add the family's evidence (and, on a failure, one sentence) to a judged member's result."""
    p = pvalue_of(res)
    evidence = {**res.evidence, **fam.evidence(part, tail, size, p, passed)}
    text = res.explanation
    if res.status == "fail" and p is not None:
        how = "Holm" if part == "realized" else "Bonferroni"
        text = (f"{text} p = {p:.2g} < tail {tail:.2g}: this batch's {fam.size} performance checks share the "
                f"false-alarm budget {fam.budget:g} ({part} share {fam.share(part):.3g}, {how}).")
    return replace(res, evidence=evidence, explanation=text)


# The realized check an estimate passes its tail on to: (estimate, its subject) -> realized check.
TARGET = {"estimated_performance": "auc", "estimated_mae": "mae", "estimated_rmse": "rmse"}


def _target(est: CheckResult) -> tuple[str, str]:
    name = TARGET.get(est.check, "")
    if est.check == "estimated_performance" and est.subject != "model":
        name = "class_auc"  # a multiclass model's per-class estimate (subject model.<class>)
    return name, est.subject


def rejected_estimates(results: Sequence[CheckResult]) -> list[tuple[tuple[str, str], float]]:
    """The estimated members of a batch rejected at their tail: (target, tail) each."""
    out = []
    for r in results:
        tail = r.evidence.get("tail")
        p = pvalue_of(r)
        if r.evidence.get("family_part") == "estimated" and judged(r) and p is not None and isinstance(tail, float) and p < tail:
            out.append((_target(r), tail))
    return out


def decide_realized(results: list[CheckResult], fam: PerformanceFamily, rerun: Callable[[int, float], CheckResult],
                    estimates: Sequence[CheckResult] = ()) -> list[CheckResult]:
    """Holm over the judged realized checks of one batch, with the tails of the batch's rejected
    ``estimates`` passed on: each is re-run at its final tail (``rerun(index, tail)``; the checks
    are pure, so a re-run only moves the tolerance) and annotated. ``results`` are the realized
    members' results at their provisional tail."""
    idx = [i for i, r in enumerate(results) if judged(r)]
    out = list(results)
    if not idx:
        return out
    pvalues = [pvalue_of(results[i]) or 0.0 for i in idx]
    start = [fam.share("realized") / len(idx)] * len(idx)
    passed = [0.0] * len(idx)
    where = {(results[i].check, results[i].subject): k for k, i in enumerate(idx)}
    for target, tail in rejected_estimates(estimates):
        k = where.get(target)
        for j in ([k] if k is not None else range(len(idx))):
            share = tail if k is not None else tail / len(idx)
            start[j] += share
            passed[j] += share
    for k, (i, tail) in enumerate(zip(idx, holm_tails(pvalues, start), strict=True)):
        res = rerun(i, tail)
        out[i] = explain(res, fam, "realized", tail, len(idx), passed[k]) if judged(res) else res
    return out
