"""The server-side SVG charts: the scatter of EB05 against N and a pair's trend, read back
as XML (points where the axes put them, thresholds, links, tooltips, text alternatives)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsafe.signals.trend import TrendRow
from medsafe.web import charts
from medsafe.web.charts import ScatterPoint

SVG = "{http://www.w3.org/2000/svg}"


def parsed(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(chart.svg)


def circles(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{SVG}circle"))


def tooltip(element: ET.Element) -> str:
    found = element.find(f"{SVG}title")
    assert found is not None
    return found.text or ""


def dashed_lines(root: ET.Element) -> list[ET.Element]:
    return [line for line in root.iter(f"{SVG}line") if line.get("stroke-dasharray") == "6 4"]


def circle_titled(root: ET.Element, start: str) -> ET.Element:
    found = [c for c in circles(root) if c.find(f"{SVG}title") is not None
             and tooltip(c).startswith(start)]
    assert len(found) == 1, [tooltip(c) for c in circles(root) if c.find(f"{SVG}title")]
    return found[0]


def row(period: str, *, eb05: float | None, ic025: float | None, n: int = 3,
        signal: bool = False, signal_by: str = "") -> TrendRow:
    return TrendRow(period, n, 1.0, 2.0, ic025, eb05, signal, signal_by, "")


# -- the scatter -----------------------------------------------------------------------------

def test_the_scatter_is_an_image_named_by_its_title_and_its_summary() -> None:
    chart = charts.scatter([ScatterPoint("baclofen × Somnolence", 12, 3.1, True, "/signals/1"),
                            ScatterPoint("baclofen × Nausea", 2, 0.4, False)])
    root = parsed(chart)
    assert root.get("role") == "img"
    labelled_by = (root.get("aria-labelledby") or "").split()
    ids = {element.get("id"): element.text for element in root.iter()
           if element.get("id") is not None}
    assert [ids[name] for name in labelled_by] == [
        "EB05 against N for every scored pair", chart.summary]
    assert chart.summary.startswith("2 pairs plotted, 1 of them candidate signals; 1 with "
                                    "EB05 at or above 2.")
    assert "The highest EB05 is 3.1, for baclofen × Somnolence (N 12)." in chart.summary


def test_points_sit_on_log_axes_so_each_decade_is_the_same_distance() -> None:
    points = [ScatterPoint(f"drug × event {n}", n, eb05, False)
              for n, eb05 in ((1, 0.1), (10, 1.0), (100, 10.0))]
    root = parsed(charts.scatter(points))
    xs = [float(circle_titled(root, f"drug × event {n}:").get("cx", "nan"))
          for n in (1, 10, 100)]
    ys = [float(circle_titled(root, f"drug × event {n}:").get("cy", "nan"))
          for n in (1, 10, 100)]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.15)
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.15)
    assert xs[0] < xs[1]
    assert ys[0] > ys[1]


def test_the_threshold_line_is_drawn_at_eb05_two() -> None:
    root = parsed(charts.scatter([ScatterPoint("on the line", 5, 2.0, True, "/signals/7"),
                                  ScatterPoint("low", 1, 0.05, False)]))
    lines = dashed_lines(root)
    assert len(lines) == 1
    point = circle_titled(root, "on the line:")
    assert lines[0].get("y1") == lines[0].get("y2") == point.get("cy")
    assert "EB05 = 2" in [text.text for text in root.iter(f"{SVG}text")]


def test_a_configured_threshold_moves_the_line_and_the_count_above_it() -> None:
    points = [ScatterPoint("a", 5, 3.0, True), ScatterPoint("b", 5, 1.5, False)]
    chart = charts.scatter(points, threshold=1.2)
    assert "2 with EB05 at or above 1.2" in chart.summary
    assert "EB05 = 1.2" in [text.text for text in parsed(chart).iter(f"{SVG}text")]


def test_candidates_are_links_to_their_signal_pages_with_a_tooltip_and_stand_out() -> None:
    root = parsed(charts.scatter([ScatterPoint("baclofen lot A × Seizure", 8, 4.2, True,
                                               "/signals/42"),
                                  ScatterPoint("baclofen × Nausea", 3, 0.8, False)]))
    links = list(root.iter(f"{SVG}a"))
    assert [link.get("href") for link in links] == ["/signals/42"]
    assert links[0].get("tabindex") == "-1"  # the table beside it carries the link for keys
    candidate = links[0].find(f"{SVG}circle")
    assert candidate is not None
    assert tooltip(candidate) == "baclofen lot A × Seizure: N 8, EB05 4.2 (candidate signal)"
    other = circle_titled(root, "baclofen × Nausea")
    # Told apart by shape, not colour alone: filled and larger against hollow.
    assert candidate.get("fill") != "none"
    assert other.get("fill") == "none"
    assert float(candidate.get("r", "0")) > float(other.get("r", "0"))


def test_crowded_other_pairs_become_one_mark_saying_how_many_but_candidates_never_do() -> None:
    crowd = [ScatterPoint(f"other {k}", 3, 0.5, False) for k in range(40)]
    flagged = [ScatterPoint(f"flagged {k}", 3, 2.5, True, f"/signals/{k}") for k in range(5)]
    root = parsed(charts.scatter([*crowd, *flagged]))
    marks = circles(root)
    hollow = [c for c in marks if c.get("fill") == "none" and c.find(f"{SVG}title") is not None]
    assert len(hollow) == 1
    assert tooltip(hollow[0]).startswith("40 pairs here, e.g. other 0: N 3, EB05 0.5")
    assert len(list(root.iter(f"{SVG}a"))) == 5


def test_labels_are_escaped_in_the_picture() -> None:
    chart = charts.scatter([ScatterPoint('<script>alert("x")</script> & co', 2, 3.0, True,
                                         '/signals/1?"onload=x')])
    assert "<script>" not in chart.svg
    root = parsed(chart)
    link = next(root.iter(f"{SVG}a"))
    assert link.get("href") == '/signals/1?"onload=x'
    circle = link.find(f"{SVG}circle")
    assert circle is not None
    assert tooltip(circle).startswith('<script>alert("x")</script> & co')


def test_pairs_without_a_positive_eb05_are_counted_not_drawn() -> None:
    chart = charts.scatter([ScatterPoint("kept", 4, 1.0, False),
                            ScatterPoint("zero", 4, 0.0, False),
                            ScatterPoint("missing", 4, math.nan, True)])
    assert len([c for c in circles(parsed(chart)) if c.find(f"{SVG}title") is not None]) == 1
    assert chart.summary.startswith("1 pair plotted, 0 of them candidate signals")
    assert "2 pairs without a positive EB05 cannot be drawn on a log scale." in chart.summary


def test_nothing_to_plot_gives_no_picture_and_says_so() -> None:
    chart = charts.scatter([])
    assert chart.svg == ""
    assert chart.summary == "No pair to plot."


# -- the trend --------------------------------------------------------------------------------

def test_the_first_flagged_period_is_marked_and_named_in_the_summary() -> None:
    rows = [row("1999-01", eb05=None, ic025=None, n=0),
            row("1999-02", eb05=0.9, ic025=-0.8),
            row("1999-03", eb05=2.4, ic025=0.3, n=5, signal=True, signal_by="EB05+IC025"),
            row("1999-04", eb05=3.0, ic025=0.9, n=7, signal=True, signal_by="EB05+IC025")]
    chart = charts.trend(rows, pair="RV × Intussusception")
    root = parsed(chart)
    assert chart.summary == (
        "RV × Intussusception from 1999-01 to 1999-04, computed from the reports received up "
        "to the end of each period: first flagged in 1999-03 (EB05 2.4, IC025 0.3, N 5; by "
        "EB05+IC025).")
    marker = [line for line in root.iter(f"{SVG}line")
              if line.get("stroke-dasharray") == "2 3"]
    flagged = circle_titled(root, "1999-03: EB05 2.4")
    assert len(marker) == 2  # through both panels
    assert {line.get("x1") for line in marker} == {flagged.get("cx")}
    assert "first flagged: 1999-03" in [text.text for text in root.iter(f"{SVG}text")]
    assert tooltip(flagged) == "1999-03: EB05 2.4, N 5, flagged (EB05+IC025)"


def test_each_panel_has_its_threshold_line() -> None:
    rows = [row("2020-Q1", eb05=2.0, ic025=0.0), row("2020-Q2", eb05=1.0, ic025=-1.0)]
    root = parsed(charts.trend(rows, pair="a × b"))
    lines = dashed_lines(root)
    assert len(lines) == 2
    on_eb05 = circle_titled(root, "2020-Q1: EB05 2,")
    on_ic025 = circle_titled(root, "2020-Q1: IC025 0,")
    assert {line.get("y1") for line in lines} == {on_eb05.get("cy"), on_ic025.get("cy")}
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert "EB05 = 2" in texts
    assert "IC025 = 0" in texts


def test_a_period_without_the_statistic_breaks_the_line_instead_of_bridging_it() -> None:
    rows = [row("2020-01", eb05=1.0, ic025=-0.5), row("2020-02", eb05=1.2, ic025=-0.3),
            row("2020-03", eb05=None, ic025=None),
            row("2020-04", eb05=1.5, ic025=-0.1), row("2020-05", eb05=1.6, ic025=0.1)]
    root = parsed(charts.trend(rows, pair="a × b"))
    lines = [line.get("points", "").split() for line in root.iter(f"{SVG}polyline")]
    assert sorted(len(points) for points in lines) == [2, 2, 2, 2]  # two runs per panel
    assert not [c for c in circles(root) if c.find(f"{SVG}title") is not None
                and tooltip(c).startswith("2020-03")]


def test_a_pair_never_flagged_says_so_and_has_no_marker() -> None:
    chart = charts.trend([row("2021-Q1", eb05=1.1, ic025=-0.4)], pair="a × b")
    assert chart.summary.endswith(": never a candidate signal in these periods.")
    assert "first flagged" not in chart.svg


def test_a_trend_without_any_statistic_gives_no_picture() -> None:
    chart = charts.trend([row("2021-01", eb05=None, ic025=None, n=0)], pair="a × b")
    assert chart.svg == ""
    assert "never a candidate signal" in chart.summary
    assert charts.trend([], pair="a × b").summary == "No period to show for a × b."


def test_many_periods_get_at_most_a_dozen_or_so_labels() -> None:
    rows = [row(f"{2000 + k // 12}-{k % 12 + 1:02d}", eb05=1.0, ic025=-0.2)
            for k in range(120)]
    texts = [text.text or "" for text in parsed(charts.trend(rows, pair="a × b"))
             .iter(f"{SVG}text")]
    periods = [text for text in texts if text[:2] == "20" and len(text) == 7]
    assert periods[0] == "2000-01"
    assert periods[-1] == "2009-12"
    assert len(periods) <= charts.MAX_TIME_LABELS + 1


# -- axes -------------------------------------------------------------------------------------

def test_log_axes_span_whole_decades_and_keep_a_few_labels_when_short() -> None:
    assert charts.log_domain([0.3, 7.0]) == (0.1, 10.0)
    assert charts.log_domain([1.0, 1.0]) == (1.0, 10.0)
    assert charts.log_ticks(0.1, 10.0) == pytest.approx([0.1, 0.2, 0.5, 1, 2, 5, 10])
    assert charts.log_ticks(1.0, 10_000.0) == pytest.approx([1, 10, 100, 1000, 10_000])


def test_linear_axes_use_steps_of_one_two_or_five() -> None:
    assert charts.nice_step(10) == 2
    assert charts.nice_step(0.7) == pytest.approx(0.2)
    assert charts.linear_domain([-0.7, 1.3]) == pytest.approx((-1.0, 1.5))
    assert charts.linear_ticks(-1.0, 1.5) == pytest.approx([-1, -0.5, 0, 0.5, 1, 1.5])
    assert charts.linear_domain([0.0, 0.0]) == pytest.approx((-1.0, 1.0))


def test_numbers_read_as_people_write_them() -> None:
    assert [charts.number_label(v) for v in (10_000, 999.7, 100, 2, 0.5, 0.01, 2.3456, 0,
                                             -1.25)] == [
        "10,000", "1,000", "100", "2", "0.5", "0.01", "2.35", "0", "-1.25"]


@given(st.lists(st.floats(min_value=1e-4, max_value=1e6), min_size=1, max_size=20))
def test_a_log_scale_puts_every_value_inside_the_plot_in_order(values: list[float]) -> None:
    low, high = charts.log_domain(values)
    scale = charts.Scale(low, high, 100.0, 500.0, log=True)
    placed = [scale(v) for v in sorted(values)]
    assert all(100.0 - 1e-6 <= x <= 500.0 + 1e-6 for x in placed)
    assert placed == sorted(placed)


def test_the_diary_chart_draws_one_panel_per_item_and_says_which_way_is_worse() -> None:
    series = [
        charts.DiarySeries("Spasticity", 0, 10, True, ((0, 4), (3, 6), (7, 8))),
        charts.DiarySeries("Sleep quality", 0, 10, False, ((0, 7), (3, 5))),
        charts.DiarySeries("Confusion", 0, 10, True, ()),
    ]
    chart = charts.diary(series, check_in_days=(3, 7, 14, 30))
    assert chart.svg.count("higher is worse") == 2
    assert "lower is worse" in chart.svg
    assert "Spasticity 4 → 8 (worse)" in chart.summary
    assert "Sleep quality 7 → 5 (worse)" in chart.summary
    assert chart.svg.count("<polyline") == 2  # the empty item has a panel but no line
    assert chart.svg.count('stroke-dasharray="2 3"') == 3 * 4


def test_an_empty_diary_draws_nothing_and_says_so() -> None:
    chart = charts.diary([charts.DiarySeries("Mood", 0, 10, False, ())])
    assert chart.svg == ""
    assert chart.summary == "No diary entry yet."
