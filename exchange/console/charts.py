"""Charts drawn on the server as inline SVG: no chart library, no script, nothing fetched.

Two kinds cover the console: bars (counts per day, per consumer) and lines (pass rates over runs).
Text is escaped; the SVG scales to its container (``viewBox``) and carries a ``<title>`` per mark so
a hover shows the value. Colours come from the stylesheet's palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 220
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP, MARGIN_RIGHT = 48, 36, 12, 12
PALETTE = ("#1f5fa8", "#b3261e", "#1e7b34", "#a15c00", "#6b3fa0")


@dataclass(frozen=True)
class Series:
    """One named series of values, aligned with the chart's labels (None: no value there)."""

    name: str
    values: Sequence[float | None]


def bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, unit: str = "") -> Markup:
    """Grouped bars, one group per label (e.g. allowed and denied queries per day)."""
    top = _nice_max(v for s in series for v in s.values if v is not None)
    plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    group = plot_w / max(1, len(labels))
    bar = group * 0.8 / max(1, len(series))
    marks = []
    for i, label in enumerate(labels):
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            if value is None:
                continue
            height = plot_h * value / top
            x = MARGIN_LEFT + i * group + group * 0.1 + j * bar
            y = MARGIN_TOP + plot_h - height
            marks.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(label)} · {escape(s.name)}: '
                f"{_number(value)}{escape(unit)}</title></rect>"
            )
    return _frame(title, labels, series, top, marks, unit, centred=True)


def line_chart(
    labels: Sequence[str], series: Sequence[Series], *, title: str, unit: str = "", top: float | None = None
) -> Markup:
    """Lines over labelled points (e.g. a license type's pass rate per run, ``top=100``)."""
    top = top or _nice_max(v for s in series for v in s.values if v is not None)
    plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    step = plot_w / max(1, len(labels) - 1) if len(labels) > 1 else 0
    marks = []
    for j, s in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        points = [
            (MARGIN_LEFT + i * step, MARGIN_TOP + plot_h - plot_h * value / top, labels[i], value)
            for i, value in enumerate(s.values)
            if value is not None and i < len(labels)
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            marks.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, label, value in points:
            marks.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>{escape(label)} · '
                f"{escape(s.name)}: {_number(value)}{escape(unit)}</title></circle>"
            )
    return _frame(title, labels, series, top, marks, unit, centred=False)


def _frame(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    top: float,
    marks: list[str],
    unit: str,
    *,
    centred: bool,
) -> Markup:
    plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 18 * len(series)}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        '<g font-size="11" fill="#5b6776">',
    ]
    for k in range(5):  # gridlines and the y axis
        value = top * k / 4
        y = MARGIN_TOP + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d8dee6"/><text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_number(value)}{escape(unit)}</text>"
        )
    every = max(1, -(-len(labels) // 12))  # at most about 12 x labels
    for i, label in enumerate(labels):
        if i % every == 0:
            x = _x_of(i, len(labels), plot_w, centred=centred)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append("</g>")
    parts.extend(marks)
    for j, s in enumerate(series):  # legend
        y = HEIGHT + 4 + 18 * j
        parts.append(
            f'<rect x="{MARGIN_LEFT}" y="{y}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{MARGIN_LEFT + 16}" y="{y + 9}" font-size="12" fill="#1d2733">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _x_of(index: int, count: int, plot_w: float, *, centred: bool) -> float:
    """A label's x: the middle of its bar group, or its point on a line."""
    if centred:
        return MARGIN_LEFT + (index + 0.5) * plot_w / max(1, count)
    return MARGIN_LEFT + (index * plot_w / (count - 1) if count > 1 else 0)


def _nice_max(values: object) -> float:
    """A round upper bound for the axis (1, 2, 4 or 8 times a power of ten, at least 4): whole ticks."""
    highest = max((float(v) for v in values), default=0.0)  # type: ignore[attr-defined]
    if highest <= 4:
        return 4.0
    magnitude = 10 ** (len(str(int(highest))) - 1)
    for factor in (1, 2, 4, 8, 10):  # a quarter of each is a whole number from 4 up
        if highest <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
