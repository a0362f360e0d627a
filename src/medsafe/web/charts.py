"""Charts drawn on the server as SVG, for pages that must work without JavaScript and
load nothing from elsewhere (the pages' CSP allows neither inline styles nor other
origins, so every colour is an SVG presentation attribute).

- `scatter`: EB05 against N for the pairs of a detection run, both axes logarithmic,
  the EB05 threshold as a dashed line, candidate signals filled and larger (never told
  by colour alone), each a link to its signal page with a `<title>` tooltip.
- `trend`: a pair's EB05 and IC025 by month or quarter in two panels sharing the time
  axis, each with its threshold line, and the first flagged period marked.

Pure: numbers in, markup out. Each chart carries a summary sentence; the pages show the
same numbers in a table next to it, which is the accessible path (the chart is an
image to assistive technology, and its point links are skipped by the Tab key so a
keyboard user is not walked through hundreds of dots before the table's own links).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only its fields are read: the web app need not load the statistics
    from medsafe.signals.trend import TrendRow

INK = "#1d2330"
MUTED = "#5a6272"
GRID = "#e4e7ed"
CANDIDATE = "#9d2a12"
OTHER = "#5a6272"
EB05_LINE = "#1f5fa8"
IC025_LINE = "#1d6b3a"
FLAGGED = "#7a4d00"
FONT = 12

CELL = 3.0
"""Pixels within which non-candidate points are drawn as one mark (its tooltip says how
many): a run can score hundreds of thousands of pairs, and the page must stay light.
Candidate signals are always drawn one by one."""

MAX_TIME_LABELS = 12


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str
    """One `<svg>` element, every text in it escaped; empty when there is nothing to
    draw (the summary then says why)."""
    summary: str
    """What the chart shows, in a sentence or two, for every reader."""


@dataclass(frozen=True, slots=True)
class ScatterPoint:
    label: str  # how a person names the pair, e.g. "baclofen × Somnolence"
    n: float
    eb05: float
    candidate: bool
    href: str | None = None  # its signal page, when it has one


@dataclass(frozen=True, slots=True)
class Box:
    """Where the plotting area sits in the picture, in pixels."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True, slots=True)
class Scale:
    """A data interval onto a pixel interval, linear or logarithmic (base 10)."""

    low: float
    high: float
    start: float
    end: float
    log: bool

    def __call__(self, value: float) -> float:
        where = self._t(value)
        return self.start + (where - self._t(self.low)) / (
            self._t(self.high) - self._t(self.low)) * (self.end - self.start)

    def _t(self, value: float) -> float:
        return math.log10(value) if self.log else value

    def ticks(self) -> list[float]:
        return log_ticks(self.low, self.high) if self.log else linear_ticks(self.low,
                                                                            self.high)


# -- axes ------------------------------------------------------------------------------------

def log_domain(values: Iterable[float]) -> tuple[float, float]:
    """Whole decades around the positive `values`: (0.1, 10) for 0.3 … 7."""
    found = [v for v in values if v > 0 and math.isfinite(v)]
    if not found:
        return 1.0, 10.0
    low = 10.0 ** math.floor(math.log10(min(found)))
    high = 10.0 ** math.ceil(math.log10(max(found)))
    return (low, low * 10) if high <= low else (low, high)


def log_ticks(low: float, high: float) -> list[float]:
    """Each decade from `low` to `high`; with two decades or fewer also 2 and 5 times
    each, so a short axis still has a few labels."""
    first, last = round(math.log10(low)), round(math.log10(high))
    steps = (1, 2, 5) if last - first <= 2 else (1,)
    ticks = [step * 10.0 ** power for power in range(first, last + 1) for step in steps]
    return [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]


def nice_step(span: float, count: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about `count` intervals."""
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def linear_domain(values: Iterable[float]) -> tuple[float, float]:
    """The finite `values` widened to whole steps (never a zero-width interval)."""
    found = [v for v in values if math.isfinite(v)]
    low, high = (min(found), max(found)) if found else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    step = nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def linear_ticks(low: float, high: float) -> list[float]:
    step = nice_step(high - low)
    first = math.ceil(low / step - 1e-9)
    count = math.floor(high / step + 1e-9) - first + 1
    return [round((first + k) * step, 10) for k in range(count)]


def number_label(value: float) -> str:
    """A tick or tooltip number as people write it: 1,000 · 20 · 2 · 0.5 · 0.01."""
    if value == 0:
        return "0"
    if abs(value) >= 100:  # whole numbers, never "1e+03"
        return f"{value:,.0f}"
    return f"{value:.3g}"


# -- markup ------------------------------------------------------------------------------------

def _attrs(**values: object) -> str:
    return "".join(f' {name.rstrip("_").replace("_", "-")}="{escape(str(value), quote=True)}"'
                   for name, value in values.items() if value is not None)


def _el(tag: str, body: str = "", **values: object) -> str:
    return f"<{tag}{_attrs(**values)}>{body}</{tag}>" if body else f"<{tag}{_attrs(**values)}/>"


def _px(value: float) -> str:
    return f"{value:.1f}"


def _svg(key: str, width: int, height: int, title: str, description: str,
         parts: Sequence[str]) -> str:
    head = (_el("title", escape(title), id=f"{key}-title")
            + _el("desc", escape(description), id=f"{key}-desc"))
    root = _attrs(xmlns="http://www.w3.org/2000/svg", viewBox=f"0 0 {width} {height}",
                  width="100%", role="img", aria_labelledby=f"{key}-title {key}-desc",
                  font_family="system-ui, sans-serif", font_size=FONT, class_="chart")
    return f"<svg{root}>{head}{''.join(parts)}</svg>"


def _frame(box: Box) -> str:
    return _el("rect", x=_px(box.left), y=_px(box.top), width=_px(box.right - box.left),
               height=_px(box.bottom - box.top), fill="none", stroke=MUTED)


def _y_axis(scale: Scale, box: Box, title: str) -> list[str]:
    parts = []
    for tick in scale.ticks():
        y = _px(scale(tick))
        parts.append(_el("line", x1=_px(box.left), x2=_px(box.right), y1=y, y2=y,
                         stroke=GRID))
        parts.append(_el("text", escape(number_label(tick)), x=_px(box.left - 6), y=y,
                         text_anchor="end", dominant_baseline="middle", fill=INK))
    middle = (box.top + box.bottom) / 2
    parts.append(_el("text", escape(title), x=_px(box.left - 46), y=_px(middle), fill=INK,
                     text_anchor="middle", transform=f"rotate(-90 {_px(box.left - 46)} "
                                                     f"{_px(middle)})"))
    return parts


def _x_axis(scale: Scale, box: Box, title: str) -> list[str]:
    parts = []
    for tick in scale.ticks():
        x = _px(scale(tick))
        parts.append(_el("line", x1=x, x2=x, y1=_px(box.top), y2=_px(box.bottom),
                         stroke=GRID))
        parts.append(_el("text", escape(number_label(tick)), x=x, y=_px(box.bottom + 16),
                         text_anchor="middle", fill=INK))
    parts.append(_el("text", escape(title), x=_px((box.left + box.right) / 2),
                     y=_px(box.bottom + 36), text_anchor="middle", fill=INK))
    return parts


def _threshold(y: float, box: Box, label: str, colour: str, *, at_left: bool) -> list[str]:
    """A dashed line at a threshold, named at the end where the data are usually sparse
    (the right of a scatter, the early periods of a trend)."""
    return [_el("line", x1=_px(box.left), x2=_px(box.right), y1=_px(y), y2=_px(y),
                stroke=colour, stroke_width=1.5, stroke_dasharray="6 4"),
            _el("text", escape(label), x=_px(box.left + 4 if at_left else box.right - 4),
                y=_px(y - 5), text_anchor="start" if at_left else "end", fill=colour)]


# -- the scatter -------------------------------------------------------------------------------

def scatter(points: Sequence[ScatterPoint], *, threshold: float = 2.0,
            key: str = "scatter", width: int = 720, height: int = 460) -> Chart:
    """EB05 against N on log axes; pairs without a finite positive EB05 or an N of at
    least one cannot sit on a log axis and are counted in the summary, not drawn."""
    drawable = [p for p in points if p.n >= 1 and p.eb05 > 0 and math.isfinite(p.eb05)
                and math.isfinite(p.n)]
    left_out = len(points) - len(drawable)
    candidates = [p for p in drawable if p.candidate]
    above = sum(1 for p in drawable if p.eb05 >= threshold)
    summary = _scatter_summary(drawable, len(candidates), above, left_out, threshold)
    if not drawable:
        return Chart("", summary)
    box = Box(left=72, top=34, right=width - 30, bottom=height - 50)
    x = Scale(*log_domain(p.n for p in drawable), box.left, box.right, log=True)
    y = Scale(*log_domain([*(p.eb05 for p in drawable), threshold]), box.bottom, box.top,
              log=True)
    parts = [_el("rect", x="0", y="0", width=str(width), height=str(height), fill="#ffffff"),
             *_x_axis(x, box, "N: reports of the pair (log scale)"),
             *_y_axis(y, box, "EB05 (log scale)"), _frame(box),
             *_threshold(y(threshold), box, f"EB05 = {number_label(threshold)}", EB05_LINE,
                        at_left=False),
             *_thinned(drawable, x, y), *(_point(p, x, y) for p in candidates),
             _scatter_legend(box)]
    return Chart(_svg(key, width, height, "EB05 against N for every scored pair", summary,
                      parts), summary)


def _scatter_summary(drawn: Sequence[ScatterPoint], candidates: int, above: int,
                     left_out: int, threshold: float) -> str:
    if not drawn:
        text = "No pair to plot."
    else:
        top = max(drawn, key=lambda p: p.eb05)
        text = (f"{len(drawn):,} pair{'s' if len(drawn) != 1 else ''} plotted, "
                f"{candidates:,} of them candidate signals; {above:,} with EB05 at or above "
                f"{number_label(threshold)}. The highest EB05 is {number_label(top.eb05)}, "
                f"for {top.label} (N {number_label(top.n)}).")
    if left_out:
        text += (f" {left_out:,} pair{'s' if left_out != 1 else ''} without a positive EB05 "
                 "cannot be drawn on a log scale.")
    return text


def _thinned(points: Sequence[ScatterPoint], x: Scale, y: Scale) -> list[str]:
    """Non-candidate pairs, one mark per few-pixel cell, in the order first met."""
    cells: dict[tuple[int, int], list[ScatterPoint]] = {}
    for p in points:
        if not p.candidate:
            cells.setdefault((round(x(p.n) / CELL), round(y(p.eb05) / CELL)), []).append(p)
    parts = []
    for group in cells.values():
        if len(group) == 1:
            parts.append(_point(group[0], x, y))
            continue
        first = group[0]
        tip = (f"{len(group)} pairs here, e.g. {first.label}: N {number_label(first.n)}, "
               f"EB05 {number_label(first.eb05)}")
        parts.append(_mark(first, x, y, tip, href=None))
    return parts


def _point(p: ScatterPoint, x: Scale, y: Scale) -> str:
    tip = (f"{p.label}: N {number_label(p.n)}, EB05 {number_label(p.eb05)}"
           + (" (candidate signal)" if p.candidate else ""))
    return _mark(p, x, y, tip, href=p.href)


def _mark(p: ScatterPoint, x: Scale, y: Scale, tip: str, *, href: str | None) -> str:
    if p.candidate:
        shape = _el("circle", _el("title", escape(tip)), cx=_px(x(p.n)), cy=_px(y(p.eb05)),
                    r="4.5", fill=CANDIDATE, stroke="#ffffff", stroke_width=1)
    else:
        shape = _el("circle", _el("title", escape(tip)), cx=_px(x(p.n)), cy=_px(y(p.eb05)),
                    r="2.5", fill="none", stroke=OTHER)
    # tabindex -1: the table next to the chart carries the same links for the keyboard.
    return _el("a", shape, href=href, tabindex="-1") if href else shape


def _scatter_legend(box: Box) -> str:
    top = box.top - 16
    return _el("g", "".join([
        _el("circle", cx=_px(box.left + 6), cy=_px(top), r="4.5", fill=CANDIDATE),
        _el("text", "candidate signal", x=_px(box.left + 16), y=_px(top + 4), fill=INK),
        _el("circle", cx=_px(box.left + 136), cy=_px(top), r="2.5", fill="none",
            stroke=OTHER),
        _el("text", "other pair", x=_px(box.left + 146), y=_px(top + 4), fill=INK),
    ]))


# -- the trend -----------------------------------------------------------------------------------

def trend(rows: Sequence[TrendRow], *, pair: str, eb05_threshold: float = 2.0,
          ic025_threshold: float = 0.0, key: str = "trend", width: int = 720,
          height: int = 440) -> Chart:
    """EB05 (log scale) above, IC025 below, one point per period; a period without the
    statistic (no report yet, or no prior fitted) breaks the line instead of joining
    across it."""
    eb05 = [_finite(row.eb05, positive=True) for row in rows]
    ic025 = [_finite(row.ic025) for row in rows]
    flagged = next((i for i, row in enumerate(rows) if row.signal), None)
    summary = _trend_summary(rows, pair, flagged)
    if not rows or all(v is None for v in (*eb05, *ic025)):
        return Chart("", summary)
    left, right = 72.0, width - 30.0
    middle = (height - 50) / 2
    upper = Box(left, 34, right, middle - 10)
    lower = Box(left, middle + 22, right, height - 50)
    step = (right - left) / len(rows)
    xs = [left + step * (i + 0.5) for i in range(len(rows))]
    y_eb = Scale(*log_domain([*(v for v in eb05 if v is not None), eb05_threshold]),
                 upper.bottom, upper.top, log=True)
    y_ic = Scale(*linear_domain([*(v for v in ic025 if v is not None), ic025_threshold]),
                 lower.bottom, lower.top, log=False)
    parts = [_el("rect", x="0", y="0", width=str(width), height=str(height), fill="#ffffff"),
             *_y_axis(y_eb, upper, "EB05 (log scale)"), _frame(upper),
             *_y_axis(y_ic, lower, "IC025"), _frame(lower),
             *_time_axis(rows, xs, lower),
             *_threshold(y_eb(eb05_threshold), upper,
                         f"EB05 = {number_label(eb05_threshold)}", EB05_LINE, at_left=True),
             *_threshold(y_ic(ic025_threshold), lower,
                         f"IC025 = {number_label(ic025_threshold)}", IC025_LINE, at_left=True),
             *_series(rows, xs, eb05, y_eb, EB05_LINE, "EB05"),
             *_series(rows, xs, ic025, y_ic, IC025_LINE, "IC025"), _trend_legend(upper)]
    if flagged is not None:
        parts += _flag(xs[flagged], upper, lower, rows[flagged].period)
    return Chart(_svg(key, width, height, f"EB05 and IC025 of {pair} by period", summary,
                      parts), summary)


def _finite(value: float | None, *, positive: bool = False) -> float | None:
    if value is None or not math.isfinite(value) or (positive and value <= 0):
        return None
    return value


def _trend_summary(rows: Sequence[TrendRow], pair: str, flagged: int | None) -> str:
    if not rows:
        return f"No period to show for {pair}."
    span = (f"{pair} from {rows[0].period} to {rows[-1].period}, computed from the reports "
            "received up to the end of each period")
    if flagged is None:
        return f"{span}: never a candidate signal in these periods."
    row = rows[flagged]
    values = ", ".join(f"{name} {number_label(value)}" for name, value in
                       (("EB05", row.eb05), ("IC025", row.ic025), ("N", float(row.n)))
                       if value is not None and math.isfinite(value))
    return (f"{span}: first flagged in {row.period} ({values}; by "
            f"{row.signal_by or 'the rule'}).")


def _time_axis(rows: Sequence[TrendRow], xs: Sequence[float], box: Box) -> list[str]:
    every = max(1, math.ceil(len(rows) / MAX_TIME_LABELS))
    parts = []
    for i, (row, x) in enumerate(zip(rows, xs, strict=True)):
        if i % every == 0 or i == len(rows) - 1:
            parts.append(_el("text", escape(row.period), x=_px(x), y=_px(box.bottom + 16),
                             text_anchor="middle", fill=INK))
    parts.append(_el("text", "Period (reports received up to its end)",
                     x=_px((box.left + box.right) / 2), y=_px(box.bottom + 36),
                     text_anchor="middle", fill=INK))
    return parts


def _series(rows: Sequence[TrendRow], xs: Sequence[float], values: Sequence[float | None],
            y: Scale, colour: str, name: str) -> list[str]:
    parts = [_el("polyline", fill="none", stroke=colour, stroke_width=2,
                 points=" ".join(f"{_px(xs[i])},{_px(y(v))}" for i, v in run))
             for run in _runs(values) if len(run) > 1]
    for i, value in enumerate(values):
        if value is None:
            continue
        row = rows[i]
        tip = (f"{row.period}: {name} {number_label(value)}, N {row.n}"
               + (f", flagged ({row.signal_by})" if row.signal else ""))
        parts.append(_el("circle", _el("title", escape(tip)), cx=_px(xs[i]), cy=_px(y(value)),
                         r="3.5" if row.signal else "2.5",
                         fill=colour if row.signal else "#ffffff", stroke=colour))
    return parts


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Stretches of consecutive periods that have a value."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, value))
    return [run for run in runs if run]


def _flag(x: float, upper: Box, lower: Box, period: str) -> list[str]:
    """A dotted line through both panels at the first flagged period, and its name."""
    lines = [_el("line", x1=_px(x), x2=_px(x), y1=_px(box.top), y2=_px(box.bottom),
                 stroke=FLAGGED, stroke_width=1.5, stroke_dasharray="2 3")
             for box in (upper, lower)]
    start = x < (upper.left + upper.right) / 2  # the label reads away from the edge
    return [*lines, _el("text", escape(f"first flagged: {period}"),
                        x=_px(x + (4 if start else -4)), y=_px(upper.top + 14),
                        text_anchor="start" if start else "end", fill=FLAGGED,
                        font_weight="bold")]


def _trend_legend(box: Box) -> str:
    top = box.top - 16
    return _el("g", "".join([
        _el("circle", cx=_px(box.left + 6), cy=_px(top), r="3.5", fill=INK, stroke=INK),
        _el("text", "flagged period", x=_px(box.left + 16), y=_px(top + 4), fill=INK),
        _el("circle", cx=_px(box.left + 126), cy=_px(top), r="2.5", fill="#ffffff",
            stroke=INK),
        _el("text", "not flagged", x=_px(box.left + 136), y=_px(top + 4), fill=INK),
    ]))


# -- the diary ---------------------------------------------------------------------------------

DIARY_LINE = "#1f5fa8"
CHECK_IN = "#7a4d00"


@dataclass(frozen=True, slots=True)
class DiarySeries:
    """One diary item over the plan: (day since the plan started, score) pairs."""

    label: str
    low: int
    high: int
    higher_is_worse: bool
    points: tuple[tuple[int, int], ...]


def diary(series: Sequence[DiarySeries], *, check_in_days: Sequence[int] = (),
          last_day: int | None = None, key: str = "diary", columns: int = 2,
          panel_width: int = 360, panel_height: int = 150) -> Chart:
    """Small multiples, one panel per diary item on its own scale, days since the plan
    started on a shared axis, the check-in days as dotted lines. Each panel says which
    way is worse, so a rising line is never read as good news by mistake."""
    drawn = [s for s in series if s.points]
    days = [day for s in drawn for day, _ in s.points]
    summary = _diary_summary(drawn, days)
    if not drawn:
        return Chart("", summary)
    end = max([*days, *(d for d in check_in_days), last_day or 0, 1])
    rows = math.ceil(len(series) / columns)
    width, height = columns * panel_width, rows * panel_height + 24
    parts = [_el("rect", x="0", y="0", width=str(width), height=str(height), fill="#ffffff")]
    for index, item in enumerate(series):
        left = (index % columns) * panel_width + 44
        top = (index // columns) * panel_height + 28
        box = Box(left, top, left + panel_width - 64, top + panel_height - 58)
        parts += _diary_panel(item, box, end, check_in_days)
    parts.append(_el("text", "Days since the plan started (dotted lines: check-ins)",
                     x=_px(width / 2), y=_px(height - 6), text_anchor="middle", fill=INK))
    return Chart(_svg(key, width, height, "The patient's diary over the plan", summary,
                      parts), summary)


def _diary_panel(item: DiarySeries, box: Box, end: int,
                 check_in_days: Sequence[int]) -> list[str]:
    x = Scale(0, end, box.left, box.right, log=False)
    y = Scale(item.low, item.high, box.bottom, box.top, log=False)
    worse = "higher is worse" if item.higher_is_worse else "lower is worse"
    parts = [_el("text", escape(f"{item.label} ({item.low}–{item.high}, {worse})"),
                 x=_px(box.left), y=_px(box.top - 8), fill=INK, font_weight="bold"),
             _frame(box)]
    for tick in (item.low, (item.low + item.high) // 2, item.high):
        parts.append(_el("text", str(tick), x=_px(box.left - 6), y=_px(y(tick)),
                         text_anchor="end", dominant_baseline="middle", fill=INK))
    for day in check_in_days:
        if 0 <= day <= end:
            parts.append(_el("line", x1=_px(x(day)), x2=_px(x(day)), y1=_px(box.top),
                             y2=_px(box.bottom), stroke=CHECK_IN, stroke_dasharray="2 3"))
    for day_tick in linear_ticks(0, end):
        parts.append(_el("text", escape(number_label(day_tick)), x=_px(x(day_tick)),
                         y=_px(box.bottom + 14), text_anchor="middle", fill=MUTED))
    points = sorted(item.points)
    if len(points) > 1:
        parts.append(_el("polyline", fill="none", stroke=DIARY_LINE, stroke_width=2,
                         points=" ".join(f"{_px(x(d))},{_px(y(v))}" for d, v in points)))
    for day, value in points:
        parts.append(_el("circle", _el("title", escape(f"day {day}: {item.label} {value}")),
                         cx=_px(x(day)), cy=_px(y(value)), r="3", fill=DIARY_LINE,
                         stroke=DIARY_LINE))
    return parts


def _diary_summary(drawn: Sequence[DiarySeries], days: Sequence[int]) -> str:
    if not drawn:
        return "No diary entry yet."
    changes = []
    for s in drawn:
        first, last = sorted(s.points)[0][1], sorted(s.points)[-1][1]
        if first != last:
            better = (last < first) == s.higher_is_worse
            changes.append(f"{s.label} {first} → {last} ({'better' if better else 'worse'})")
    span = f"Diary from day {min(days)} to day {max(days)}"
    return f"{span}: " + ("; ".join(changes) if changes else "no change") + "."
