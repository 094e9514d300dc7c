"""The bench's figures as an SVG chart: one row per ratio, on a log scale around 1."""

from __future__ import annotations

import math
from html import escape
from typing import Any

WIDTH = 980
LABEL = 470  # the column of row labels
PLOT = 380
ROW = 24
TOP = 64
TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _domain(figures: list[dict[str, Any]]) -> tuple[float, float]:
    values = [v for f in figures for v in (f["ratio"]["min"], f["ratio"]["max"]) if v > 0]
    low = min([*values, 0.5])
    high = max([*values, 2.0])
    low = max(t for t in TICKS if t <= low) if low >= TICKS[0] else TICKS[0]
    high = min(t for t in TICKS if t >= high) if high <= TICKS[-1] else TICKS[-1]
    return low, high


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 10 else f"{value:.0f}"


def render(results: dict[str, Any]) -> str:
    """The chart of `results` (bench/run.py's JSON) as SVG text."""
    figures = [f for f in results["figures"] if f["ratio"]["median"] > 0]
    low, high = _domain(figures)
    span = math.log(high) - math.log(low)

    def x(value: float) -> float:
        clipped = min(max(value, low), high)
        return LABEL + PLOT * (math.log(clipped) - math.log(low)) / span

    height = TOP + ROW * len(figures) + 72
    title = "Stageflow bench: ratios, median of interleaved rounds (bar: median, line: min to max)"
    when = results.get("when", "")
    sub = (
        f"{when[:16].replace('T', ' ')} UTC, {results['rounds']} rounds of {results['seconds']} s, "
        f"{results['connections']} connections{', quick' if results.get('quick') else ''}"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="t d" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="t">{escape(title)}</title>',
        f'<desc id="d">{escape(sub)}; one row per figure, a log scale with 1 marked.</desc>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        _text(12, 22, title, font_size="15", font_weight="600", fill="#111"),
        _text(12, 40, sub, fill="#555"),
    ]
    axis = TOP + ROW * len(figures)
    for tick in TICKS:
        if low <= tick <= high:
            tx = x(tick)
            stroke = "#444" if tick == 1 else "#ddd"
            parts.append(
                f'<line x1="{tx:.1f}" y1="{TOP - 6}" x2="{tx:.1f}" y2="{axis}" stroke="{stroke}"/>'
            )
            parts.append(_text(tx, axis + 16, _number(tick), text_anchor="middle", fill="#555"))
    parts.append(
        _text(LABEL + PLOT / 2, axis + 34, "ratio (log scale)", text_anchor="middle", fill="#555")
    )
    for i, figure in enumerate(figures):
        y = TOP + ROW * i
        ratio = figure["ratio"]
        parts.append(_text(12, y + 15, f"{figure['id']}  {figure['title']}", fill="#111"))
        one, median = x(1), x(ratio["median"])
        colour = "#3b6fb6" if figure["metric"] == "rps" else "#b5763a"
        parts.append(
            f'<rect x="{min(one, median):.1f}" y="{y + 5}" width="{abs(median - one) or 1:.1f}" '
            f'height="{ROW - 10}" fill="{colour}" opacity="0.85"/>'
        )
        lo, hi = x(ratio["min"]), x(ratio["max"])
        parts.append(
            f'<line x1="{lo:.1f}" y1="{y + 12}" x2="{hi:.1f}" y2="{y + 12}" stroke="#111"/>'
        )
        for end in (lo, hi):
            parts.append(
                f'<line x1="{end:.1f}" y1="{y + 8}" x2="{end:.1f}" y2="{y + 16}" stroke="#111"/>'
            )
        parts.append(_text(LABEL + PLOT + 12, y + 15, _number(ratio["median"]), fill="#111"))
    legend = "blue: throughput ratio per round; brown: SQL statements per operation"
    parts.append(_text(LABEL + PLOT / 2, axis + 54, legend, text_anchor="middle", fill="#555"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
