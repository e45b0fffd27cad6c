"""The unit conversions the unit-change check can name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitConversion:
    name: str  # what a human reads: 'x1000', 'percent -> fraction', 'C -> F'
    kind: str  # power_of_ten, percent_fraction, length, mass, distance, temperature
    factor: float
    offset: float = 0.0
    # Feature units for which this conversion is plausible; empty: any unit.
    units: frozenset[str] = frozenset()

    def apply(self, x: float) -> float:
        return self.factor * x + self.offset


PERCENT_UNITS = frozenset({"percent", "%", "pct", "percentage"})
FRACTION_UNITS = frozenset({"fraction", "ratio", "share", "proportion", "rate"})
_LENGTH = frozenset({"cm", "centimeter", "centimetre", "inch", "in", "inches", "length"})
_MASS = frozenset({"kg", "kilogram", "lb", "lbs", "pound", "pounds", "mass", "weight"})
_DISTANCE = frozenset({"km", "kilometer", "kilometre", "mile", "miles", "mi", "distance"})
_TEMPERATURE = frozenset({"c", "celsius", "degc", "f", "fahrenheit", "degf", "temperature", "°c", "°f"})


def _power_name(k: int) -> str:
    return f"x{10 ** k}" if k > 0 else f"x{10.0 ** k:.{-k}f}"


def _conversions() -> tuple[UnitConversion, ...]:
    out = [UnitConversion(_power_name(k), "power_of_ten", 10.0**k) for k in range(-6, 7) if k != 0]
    out += [
        UnitConversion("percent -> fraction", "percent_fraction", 0.01, units=PERCENT_UNITS),
        UnitConversion("fraction -> percent", "percent_fraction", 100.0, units=FRACTION_UNITS),
        UnitConversion("cm -> inch", "length", 1 / 2.54, units=_LENGTH),
        UnitConversion("inch -> cm", "length", 2.54, units=_LENGTH),
        UnitConversion("kg -> lb", "mass", 2.20462262, units=_MASS),
        UnitConversion("lb -> kg", "mass", 0.45359237, units=_MASS),
        UnitConversion("km -> mile", "distance", 0.621371192, units=_DISTANCE),
        UnitConversion("mile -> km", "distance", 1.609344, units=_DISTANCE),
        UnitConversion("C -> F", "temperature", 1.8, 32.0, units=_TEMPERATURE),
        UnitConversion("F -> C", "temperature", 5 / 9, -160 / 9, units=_TEMPERATURE),
    ]
    return tuple(out)


CONVERSIONS: tuple[UnitConversion, ...] = _conversions()


def candidates(unit: str | None) -> list[UnitConversion]:
    """Conversions worth testing for a feature with this unit (all of them when the unit is unknown).

    Powers of ten are always candidates. Percent <-> fraction replaces x0.01 / x100 when the
    unit says percent or fraction, so the change gets its proper name.
    """
    u = (unit or "").strip().lower()
    out = []
    for c in CONVERSIONS:
        if c.kind == "power_of_ten":
            if (u in PERCENT_UNITS and c.factor == 0.01) or (u in FRACTION_UNITS and c.factor == 100.0):
                continue  # named below
            out.append(c)
        elif c.kind == "percent_fraction":
            if u and u in c.units:
                out.append(c)
        elif not u or u in c.units:
            out.append(c)
    return out
