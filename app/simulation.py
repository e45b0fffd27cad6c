"""Keeping the demo moving: simulate and score one more business day of the example model.

Used by ``vigil schedule --simulate`` (and so by ``vigil demo``). The day after the newest
landed prediction file is simulated with a seed derived from the date, so a rerun of the
same day writes the same data.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from core.config import VigilConfig
from core.stores import stores_for

_DATED = re.compile(r"(\d{4}-\d{2}-\d{2})")
DEFAULT_VOLUME = 2000
BASE_SEED = 20_240_101


def newest_landed_day(folder: Path) -> date | None:
    """The newest YYYY-MM-DD found in the file names of a landing folder."""
    if not folder.is_dir():
        return None
    days = []
    for path in folder.iterdir():
        m = _DATED.search(path.name)
        if m:
            try:
                days.append(date.fromisoformat(m.group(1)))
            except ValueError:  # a name that only looks like a date
                continue
    return max(days) if days else None


def day_seed(day: date) -> int:
    return BASE_SEED + day.toordinal()


def simulate_next_day(cfg: VigilConfig, volume: int | None = None) -> date:
    """Simulate (and score with the champion) the day after the newest landed predictions."""
    from baseline_model.simulator import simulate_history

    folder = cfg.resolve(cfg.predictions.source.path)
    last = newest_landed_day(folder)
    day = (last + timedelta(days=1)) if last else date.today()
    _, ops = stores_for(cfg)
    simulate_history(
        cfg.root,
        start=day,
        days=1,
        seed=day_seed(day),
        volume=volume or DEFAULT_VOLUME,
        incidents=[],
        ops=ops,
    )
    return day
