"""Keeping the demo moving: simulate and score one more business day of the example model.

Used by ``vigil schedule --simulate`` (and so by ``vigil demo``), which finds it through the
``vigil.simulators`` entry point (``pyproject.toml``), so the app never imports this package. The day after the newest
landed prediction file is simulated with the history's seed (the simulator derives each
day's randomness from the seed and the date), so a rerun of the same day writes the same data.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import VigilConfig
from core.stores import stores_for

_DATED = re.compile(r"(\d{4}-\d{2}-\d{2})")
DEFAULT_VOLUME = 2000
DEFAULT_SEED = 7  # the demo history's seed: the simulator derives each day's randomness from it


def demo_settings(root: Path) -> dict[str, Any]:
    """Seed and volume of the simulated history (written by baseline_model.demo), if any."""
    marker = root / "simulator" / "demo_history.json"
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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


def simulate_next_day(cfg: VigilConfig, volume: int | None = None) -> date:
    """Simulate (and score with the champion) the day after the newest landed predictions.

    Same seed as the history, so the simulated world continues where it left off (the
    simulator derives each day's randomness from the seed and the date).
    """
    from baseline_model.simulator import simulate_history

    folder = cfg.resolve(cfg.predictions.source.path)
    last = newest_landed_day(folder)
    day = (last + timedelta(days=1)) if last else datetime.now(UTC).date()
    settings = demo_settings(cfg.root)
    _, ops = stores_for(cfg)
    simulate_history(
        cfg.root,
        start=day,
        days=1,
        seed=int(settings.get("seed", DEFAULT_SEED)),
        volume=volume or int(settings.get("volume", DEFAULT_VOLUME)),
        incidents=[],
        ops=ops,
        model_name=cfg.model.registry_name or cfg.model.name,
    )
    return day
