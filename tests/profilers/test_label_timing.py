"""Labels on time: with maturity 3d, batch i is judged in the first cycle whose data holds its
last outcomes (the cycle after day i + 3 landed), not a cycle later."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.cycle import run_cycle
from core.clock import ManualClock
from core.config import config_from_dict
from profilers.performance import labels_matured, maturity_cutoff
from tests.profilers.conftest import DAY0, toy_config_dict, write_outcomes, write_predictions, write_reference

MATURITY_DAYS = 3


def test_maturity_cutoff_counts_the_newest_batch_whole() -> None:
    day = timedelta(days=1)
    now = DAY0 + timedelta(days=3, hours=23, minutes=59)  # the cycle after day 3 landed
    assert maturity_cutoff(now, day, 3 * day) == DAY0
    assert labels_matured(DAY0, now, day, 3 * day)
    assert not labels_matured(DAY0 + day, now, day, 3 * day)
    assert not labels_matured(DAY0, DAY0 + timedelta(days=2, hours=23), day, 3 * day)
    assert not labels_matured(DAY0, None, day, 3 * day) and not labels_matured(DAY0, now, day, None)
    # Maturity that is not a whole number of windows: 36h matures batch 0 once day 2 arrived
    # (its last row, at 23:59 on day 0, had its label by 11:59 on day 2).
    assert labels_matured(DAY0, DAY0 + timedelta(days=2, minutes=5), day, timedelta(hours=36))
    assert not labels_matured(DAY0, DAY0 + timedelta(days=1, hours=23), day, timedelta(hours=36))


def test_batch_i_is_label_checked_in_the_cycle_after_day_i_plus_maturity(tmp_path) -> None:
    data = toy_config_dict()
    data["labels"]["maturity"] = f"{MATURITY_DAYS}d"
    data.setdefault("checks", {}).setdefault("params", {})["auc"] = {"expected": 0.8, "min_rows": 50}
    cfg = config_from_dict(data, file="toy.yaml", root=tmp_path)
    write_reference(tmp_path)
    judged: dict[datetime, int] = {}  # batch -> cycle (day) of its first non-skipped AUC result
    for day in range(8):
        write_predictions(tmp_path, day)
        if day >= MATURITY_DAYS:  # the outcomes of day - 3, observed today
            write_outcomes(tmp_path, day, of_day=day - MATURITY_DAYS)
        report = run_cycle(cfg, clock=ManualClock(DAY0 + timedelta(days=day + 1, hours=2)), notify=False)
        assert report.status == "ok", report.error
        for r in report.results:
            if r.check == "auc" and r.status != "skipped" and r.batch not in judged:
                judged[r.batch] = day
    expected = {DAY0 + timedelta(days=i): i + MATURITY_DAYS for i in range(8 - MATURITY_DAYS)}
    assert judged == expected
