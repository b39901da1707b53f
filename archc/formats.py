"""How archc writes numbers and shapes, in one place: tensor shapes, MACs with a unit, SI prefixes, percents.

Each text form has one writer here; the places that show them (diagrams, reports, errors, generated
source, the probe) choose a form, never format on their own."""
from __future__ import annotations

import math
from typing import Optional, Sequence

SHAPE_SEPARATORS = {"plain": "x", "spaced": " x ", "times": "×"}  # reports and code | errors | diagrams


def shape_text(shape: Sequence[int], style: str = "plain") -> str:
    """(256, 56, 56) -> '256x56x56' (plain: reports, generated source), '256 x 56 x 56' (spaced: messages),
    '256×56×56' (times: diagrams). Raises KeyError for another style."""
    return SHAPE_SEPARATORS[style].join(str(int(s)) for s in shape)


def format_macs(macs: int) -> str:
    """MACs with a unit that shows the number: '4.089 GMACs', '17.3 MMACs', '2.05 KMACs', '322 MACs'."""
    for unit, size, digits in (("G", 10**9, 3), ("M", 10**6, 2), ("K", 10**3, 2)):
        if macs >= size:
            return f"{macs / size:,.{digits}f} {unit}MACs"
    return f"{macs:,} MACs"


def si(value: float, digits: int = 3) -> str:
    """1234567 -> '1.23M' (K, M, G, T; three significant digits)."""
    value = float(value)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= div:
            scaled = value / div
            decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(scaled)))))
            return f"{scaled:.{decimals}f}{suffix}"
    return f"{value:.0f}"


def number(value: Optional[float], digits: int = 3) -> str:
    """A measured float in `digits` significant digits: 0.1234 -> '0.123', 2.5e-05 -> '2.50e-05' (below 1e-3
    or from 1e5 on); 'n/a' for None, 'nan' / 'inf' as they are."""
    if value is None or not math.isfinite(value):
        return "n/a" if value is None else str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def percent(fraction: float, significant: int = 0, decimals: int = 1) -> str:
    """0.4412 -> '44.1%' (decimals), or with `significant` digits '44.12%'; 'n/a' when not finite."""
    if not math.isfinite(fraction):
        return "n/a"
    return f"{100 * fraction:.{significant}g}%" if significant else f"{fraction:.{decimals}%}"
