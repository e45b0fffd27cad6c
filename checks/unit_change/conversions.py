"""The catalogue of real unit conversions the unit-change check can name, with their inverses.

Multiplicative: powers of ten, percent <-> fraction (x100), years <-> months and feet <->
inches (x12), weeks <-> days (x7), days <-> hours (x24), hours <-> minutes and minutes <->
seconds (x60), hours <-> seconds (x3600), kg <-> lb (2.20462), mile <-> km (1.609344),
m <-> ft (3.28084), inch <-> cm (2.54). Offsets only for the exact temperature conversions
(C <-> F affine, K <-> C +-273.15): a plain shift is never a unit change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitConversion:
    name: str  # what a human reads: 'x1000', 'years -> months or feet -> inches (x12)', 'C -> F'
    kind: str  # power_of_ten, percent_fraction, time, length, mass, distance, temperature
    factor: float
    offset: float = 0.0
    # Feature units that pick this name over another conversion of the same factor.
    units: frozenset[str] = frozenset()

    def apply(self, x: float) -> float:
        return self.factor * x + self.offset


PERCENT_UNITS = frozenset({"percent", "%", "pct", "percentage"})
FRACTION_UNITS = frozenset({"fraction", "ratio", "share", "proportion", "rate"})
TEMPERATURE_UNITS = frozenset({"c", "celsius", "degc", "f", "fahrenheit", "degf", "k", "kelvin", "temperature",
                          "°c", "°f"})


def _power_name(k: int) -> str:
    return f"x{10 ** k}" if k > 0 else f"x{10.0 ** k:.{-k}f}"


def _pair(name: str, inverse: str, kind: str, factor: float) -> list[UnitConversion]:
    return [UnitConversion(f"{name} (x{factor:g})", kind, factor),
            UnitConversion(f"{inverse} (x1/{factor:g})", kind, 1.0 / factor)]


def _conversions() -> tuple[UnitConversion, ...]:
    out = [UnitConversion(_power_name(k), "power_of_ten", 10.0**k) for k in range(-6, 7) if k != 0]
    out += [
        UnitConversion("percent -> fraction", "percent_fraction", 0.01, units=PERCENT_UNITS),
        UnitConversion("fraction -> percent", "percent_fraction", 100.0, units=FRACTION_UNITS),
    ]
    out += _pair("years -> months or feet -> inches", "months -> years or inches -> feet", "time", 12.0)
    out += _pair("weeks -> days", "days -> weeks", "time", 7.0)
    out += _pair("days -> hours", "hours -> days", "time", 24.0)
    out += _pair("hours -> minutes or minutes -> seconds", "minutes -> hours or seconds -> minutes", "time", 60.0)
    out += _pair("hours -> seconds", "seconds -> hours", "time", 3600.0)
    out += [
        UnitConversion("kg -> lb (x2.2046)", "mass", 2.20462262),
        UnitConversion("lb -> kg (x0.4536)", "mass", 0.45359237),
        UnitConversion("mile -> km (x1.609)", "distance", 1.609344),
        UnitConversion("km -> mile (x0.6214)", "distance", 1 / 1.609344),
        UnitConversion("m -> ft (x3.281)", "length", 1 / 0.3048),
        UnitConversion("ft -> m (x0.3048)", "length", 0.3048),
        UnitConversion("inch -> cm (x2.54)", "length", 2.54),
        UnitConversion("cm -> inch (x0.3937)", "length", 1 / 2.54),
        UnitConversion("C -> F", "temperature", 1.8, 32.0, units=TEMPERATURE_UNITS),
        UnitConversion("F -> C", "temperature", 5 / 9, -160 / 9, units=TEMPERATURE_UNITS),
        UnitConversion("C -> K", "temperature", 1.0, 273.15, units=TEMPERATURE_UNITS),
        UnitConversion("K -> C", "temperature", 1.0, -273.15, units=TEMPERATURE_UNITS),
    ]
    return tuple(out)


CONVERSIONS: tuple[UnitConversion, ...] = _conversions()
MULTIPLICATIVE: tuple[UnitConversion, ...] = tuple(c for c in CONVERSIONS if c.offset == 0.0)
AFFINE: tuple[UnitConversion, ...] = tuple(c for c in CONVERSIONS if c.offset != 0.0)


def name_factor(factor: float, unit: str | None, rel_tol: float) -> UnitConversion | None:
    """The catalogue's multiplicative conversion within rel_tol of factor (the unit picks among
    conversions of the same factor: percent -> fraction for a percent column, else x0.01)."""
    u = (unit or "").strip().lower()
    best: UnitConversion | None = None
    best_gap = rel_tol
    for c in MULTIPLICATIVE:
        gap = abs(factor / c.factor - 1.0)
        if gap > best_gap + 1e-12:
            continue
        if c.kind == "percent_fraction" and u not in c.units:
            continue  # a plain x0.01 / x100 unless the unit says percent / fraction
        if best is not None and abs(gap - best_gap) <= 1e-12 and not (u and u in c.units):
            continue
        best, best_gap = c, gap
    if best is not None and best.kind == "power_of_ten" and u:
        for c in MULTIPLICATIVE:
            if c.kind == "percent_fraction" and u in c.units and abs(c.factor / best.factor - 1.0) < 1e-9:
                return c
    return best
