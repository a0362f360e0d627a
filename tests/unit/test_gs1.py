"""GS1 element strings from drug-pack DataMatrix scans: GTIN (01), lot (10), expiry (17),
serial (21), in the raw form a scanner sends and the human-readable form."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsafe.errors import Invalid
from medsafe.interop.gs1 import (
    GS,
    PackScan,
    gtin_check_digit,
    gtin_check_digit_ok,
    parse_element_string,
)

TODAY = date(2026, 11, 26)
GTIN = "00364679902011"  # GTIN-14 of NDC 64679-902-01 (check digit 1)


def test_a_raw_scan_with_a_separator_after_the_lot_is_read() -> None:
    scan = parse_element_string(f"01{GTIN}17270531" f"10ABC123{GS}21SN0001", today=TODAY)
    assert scan == PackScan(gtin=GTIN, lot="ABC123", expiry=date(2027, 5, 31),
                            serial="SN0001")


def test_the_datamatrix_symbology_prefix_and_a_leading_fnc1_are_dropped() -> None:
    scan = parse_element_string(f"]d2{GS}01{GTIN}10LOT-7/A{GS}17280100\r\n", today=TODAY)
    assert (scan.gtin, scan.lot, scan.expiry) == (GTIN, "LOT-7/A", date(2028, 1, 31))


def test_the_human_readable_form_is_read() -> None:
    scan = parse_element_string(f"(01){GTIN}(17)290228(10)B12(21)XYZ", today=TODAY)
    assert scan == PackScan(gtin=GTIN, lot="B12", expiry=date(2029, 2, 28), serial="XYZ")


def test_day_00_means_the_last_day_of_the_month_leap_years_included() -> None:
    assert parse_element_string(f"01{GTIN}17280200", today=TODAY).expiry == date(2028, 2, 29)
    assert parse_element_string(f"01{GTIN}17270200", today=TODAY).expiry == date(2027, 2, 28)


@pytest.mark.parametrize(("yy", "year"), [("26", 2026), ("76", 2076), ("77", 1977),
                                          ("99", 1999), ("00", 2000)])
def test_the_century_follows_the_gs1_sliding_window(yy: str, year: int) -> None:
    # Seen from 2026: 50 years ahead is still this century, 51 ahead is the last one.
    assert parse_element_string(f"01{GTIN}17{yy}0115", today=TODAY).expiry == \
        date(year, 1, 15)


def test_a_year_far_behind_today_belongs_to_the_next_century() -> None:
    assert parse_element_string(f"01{GTIN}17100115", today=date(2060, 6, 1)).expiry == \
        date(2110, 1, 15)


@pytest.mark.parametrize(("scan", "message"), [
    (f"01{GTIN[:-1]}2", "check digit"),
    (f"01{GTIN}17271301", "month 13"),
    (f"01{GTIN}17270230", "not a date"),
    (f"01{GTIN}1727053", "needs 6 characters"),
    (f"01{GTIN}10{'A' * 21}", "at most 20"),
    (f"01{GTIN}10AB CD", "character set 82"),
    (f"01{GTIN}10", "empty"),
    (f"01{GTIN}11270101", r"AI \(11\) is not understood"),
    (f"01{GTIN}10A{GS}10B", "appears twice"),
    ("10LOT17270101", "no GTIN"),
    (f"]d1{GTIN}", "not a GS1 one"),
    (f"(01){GTIN}junk(10)A", "must be 14 digits"),
    (f"(01){GTIN}(10)A)x", "cannot read"),
    (f"junk(01){GTIN}", r"AI \(ju\) is not understood"),
    (f"(01){GTIN}(240)X", r"AI \(240\) is not understood"),
    ("", "empty"),
])
def test_bad_scans_are_refused_naming_the_problem(scan: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse_element_string(scan, today=TODAY)


def test_an_invalid_names_the_ai_it_is_about() -> None:
    with pytest.raises(Invalid) as caught:
        parse_element_string(f"01{GTIN}17271301", today=TODAY)
    assert caught.value.where == "AI (17)"


digits = st.text("0123456789", min_size=13, max_size=13)
lots = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-./_",
               min_size=1, max_size=20)


@given(digits)
def test_the_computed_check_digit_always_checks_and_any_other_does_not(body: str) -> None:
    check = gtin_check_digit(body)
    assert gtin_check_digit_ok(body + check)
    assert not any(gtin_check_digit_ok(body + other) for other in "0123456789"
                   if other != check)


@given(digits, lots, st.dates(date(2000, 1, 1), date(2049, 12, 31)), lots)
def test_any_pack_written_as_an_element_string_reads_back(
        body: str, lot: str, expiry: date, serial: str) -> None:
    gtin = body + gtin_check_digit(body)
    raw = f"]d2{GS}01{gtin}17{expiry:%y%m%d}10{lot}{GS}21{serial}"
    human = f"(01){gtin}(17){expiry:%y%m%d}(10){lot}(21){serial}"
    expected = PackScan(gtin=gtin, lot=lot, expiry=expiry, serial=serial)
    assert parse_element_string(raw, today=TODAY) == expected
    assert parse_element_string(human, today=TODAY) == expected
