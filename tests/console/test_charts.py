"""Server-side SVG charts: well-formed, escaped, with whole-number ticks and gaps for missing values."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - parsing our own output

from exchange.console.charts import Series, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_well_formed_svg_with_one_mark_per_value():
    svg = bar_chart(["11-20", "11-21"], [Series("允许", [3, 5]), Series("拒绝", [1, None])], title="每日请求")
    root = ET.fromstring(str(svg))  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg" and root.get("aria-label") == "每日请求"
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 3  # the missing value draws nothing
    assert {b.find(f"{SVG}title").text for b in bars} >= {"11-21 · 允许: 5", "11-20 · 拒绝: 1"}


def test_text_is_escaped():
    svg = str(bar_chart(["<script>"], [Series("a&b", [1])], title='"x"'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    ET.fromstring(svg)  # noqa: S314


def test_axis_ticks_are_whole_numbers_for_small_counts():
    svg = str(bar_chart(["d"], [Series("n", [1])], title="t"))
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert ticks == ["0", "1", "2", "3", "4"]


def test_a_line_chart_of_percentages_runs_to_100():
    svg = str(
        line_chart(["r1", "r2", "r3"], [Series("tax", [100, 98.5, None])], title="通过率", unit="%", top=100)
    )
    assert re.findall(r'text-anchor="end">([^<]+)</text>', svg)[-1] == "100%"
    assert svg.count("<circle") == 2 and "<polyline" in svg and "98.5%" in svg
