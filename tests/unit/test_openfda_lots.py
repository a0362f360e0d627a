"""Lots and expiry dates out of `code_info`. Every text below is copied from a real
enforcement record of the openFDA export (its recall number in the comment)."""

from __future__ import annotations

from datetime import date

import pytest

from medsafe.interop.openfda.lots import parse_code_info
from medsafe.recalls.model import RecallLot


def lots(text: str, *, product_ndcs: tuple[str, ...] = ()) -> list[tuple[str, date | None]]:
    return [(lot.number, lot.expiry)
            for lot in parse_code_info(text, product_ndcs=product_ndcs).lots]


def test_one_expiry_after_several_lots_belongs_to_each_of_them() -> None:
    # D-449-2013; a month as expiry is its last day (USP <7>)
    assert lots("Lot #: 1095213, 1095214, Exp Apr-13; 1097733, Exp Jul-13; 1098540, "
                "Exp Aug-13.") == [("1095213", date(2013, 4, 30)),
                                   ("1095214", date(2013, 4, 30)),
                                   ("1097733", date(2013, 7, 31)),
                                   ("1098540", date(2013, 8, 31))]


def test_a_bare_date_right_after_a_lot_is_its_expiry() -> None:
    # D-0465-2020
    assert lots("17374 12/19  18196 8/20") == [("17374", date(2019, 12, 31)),
                                              ("18196", date(2020, 8, 31))]


def test_beyond_use_dates_and_at_sign_lots_of_compounders_are_read() -> None:
    # D-0251-2016
    assert lots("Lot Numbers: 20151706@45 BUD: 12/14/2015; 20151707@16 BUD: 1/13/2016") == [
        ("20151706@45", date(2015, 12, 14)), ("20151707@16", date(2016, 1, 13))]


@pytest.mark.parametrize(("text", "expected"), [
    ("JP54291, exp 20-06-2021", [("JP54291", date(2021, 6, 20))]),  # day first (Novo)
    ("Lot #: 14375A, Exp. date 2019-DEC", [("14375A", date(2019, 12, 31))]),  # D-0532-2020
    ("Lot #: P203076, P203075 Exp. NOV 21", [("P203076", date(2021, 11, 30)),
                                             ("P203075", date(2021, 11, 30))]),  # D-1499-2020
    ("Lot #: AF7814, 2021 AUG 31", [("AF7814", date(2021, 8, 31))]),  # D-1342-2020
    ("Lot Numbers: 19-S00023, Exp. May: 2020", [("19-S00023", date(2020, 5, 31))]),
    ("Lot: 37-042-JT, Exp 1JAN2016", [("37-042-JT", date(2016, 1, 1))]),
    ("Lot#: S700220, Exp. Apr 30 2019", [("S700220", date(2019, 4, 30))]),
    ("N14695P, exp. date 08 2020", [("N14695P", date(2020, 8, 31))]),
    ("GLBG001 Exp.12/14, GLBG008 Exp. 06/15", [("GLBG001", date(2014, 12, 31)),
                                               ("GLBG008", date(2015, 6, 30))]),
    ("Lot 470  exp.  04/13, 471 exp. 06/13", [("470", date(2013, 4, 30)),
                                             ("471", date(2013, 6, 30))]),  # D-019-2014
])
def test_the_many_ways_firms_write_expiry_dates(
        text: str, expected: list[tuple[str, date | None]]) -> None:
    assert lots(text) == expected


def test_lots_of_capital_letters_only_are_read_when_a_date_follows() -> None:
    # D-0367-2020
    assert lots("Lot #: SKG,Exp  08/21; SHK, Exp 08/21; RHB, RHC, Exp 8/19") == [
        ("SKG", date(2021, 8, 31)), ("SHK", date(2021, 8, 31)), ("RHB", date(2019, 8, 31)),
        ("RHC", date(2019, 8, 31))]


def test_all_lots_is_said_and_lots_listed_beside_it_are_still_read() -> None:
    # D-1780-2015: the range dates tie to no lot, each lot has its own date
    info = parse_code_info("All lots distributed between November 2014 and May 2015;  "
                           "03112015@1, 9/7/2015; 01272015@24, 7/26/2015")
    assert info.all_lots
    assert [(lot.number, lot.expiry) for lot in info.lots] == [
        ("03112015@1", date(2015, 9, 7)), ("01272015@24", date(2015, 7, 26))]


@pytest.mark.parametrize("text", ["All lots", "All lots remaining within expiry.",
                                  "all codes distributed prior to and including 05/23/2013",
                                  "All Sterile Compounded Products within Expiry",
                                  "All unexpired lots", "Lots: ALL", "ALL"])
def test_all_lots_phrases(text: str) -> None:
    info = parse_code_info(text)
    assert info.all_lots
    assert info.lots == ()


@pytest.mark.parametrize("text", [
    "Rx #'s:   0374732    0374732",  # D-1619-2012: prescription numbers
    "methylPREDNISolone, Tablet, 4 mg has the following code    Pedigree: AD21811_17, "
    "EXP: 5/1/2014.",  # D-642-2014: a repackager's pedigree code
    "Stock No: 1099; Case UPC: 3 10742 91099 (5); Item UPC 3 10742 01099 2",
    "Product Number (s): 60010, 40201, 40202.",
    "No code information printed on bottle",
    "Compounded on 05/29/15, Discard After: 06/12/15",
])
def test_codes_that_are_not_lots_give_no_lots(text: str) -> None:
    info = parse_code_info(text)
    assert info.lots == ()
    assert not info.all_lots


def test_another_code_label_holds_until_a_lot_label() -> None:
    # D-1396-2016 and D-1353-2014
    assert lots("Service Code 3V8705 , Lot Number 160380161M , Exp. Date 5/8/2016 ;  "
                "Service Code 3V8705 , Lot Number 160400200M , Exp. Date 5/10/2016") == [
        ("160380161M", date(2016, 5, 8)), ("160400200M", date(2016, 5, 10))]
    assert lots("UPC 814832013523    Lots: Expiry Date  148342 07/2015  148347 08/2015") == [
        ("148342", date(2015, 7, 31)), ("148347", date(2015, 8, 31))]


def test_quantities_strengths_fractions_and_date_ranges_are_not_lots() -> None:
    assert lots("Lot #: a) Bupivacaine PF 0.5% 30 mL SDV: 20130318-C, Exp 6/18/2013") == [
        ("20130318-C", date(2013, 6, 18))]
    assert lots("Lot Number: 15112064M, Exp between 07/15/15-10/12/15") == [
        ("15112064M", None)]
    assert lots("LITHIUM CARBONATE ER, Tablet, 225 mg (1/2 of 450 mg), 48-count") == []


def test_lots_after_an_ndc_belong_to_it() -> None:
    # D-0986-2018
    info = parse_code_info("Lot Numbers:  NDC 0591-2167-30  1196936A, 1238463A  "
                           "NDC 0591-2167-19   1196934M")
    assert info.lots == (RecallLot("1196936A", None, "00591216730"),
                         RecallLot("1238463A", None, "00591216730"),
                         RecallLot("1196934M", None, "00591216719"))


def test_lots_after_two_ndcs_at_once_belong_to_neither() -> None:
    # D-0307-2019: both NDCs, then the lots: which lot is in which pack is not said
    info = parse_code_info("NDC 0093-7807-56 & 0093-7807-98  Lot # 18X010, 18X011")
    assert [lot.ndc for lot in info.lots] == [None, None]


def test_the_only_ndc_of_the_product_is_every_lots_ndc() -> None:
    info = parse_code_info("Lot #: 343B17025, Exp 03/31/19", product_ndcs=("43547036909",))
    assert info.lots == (RecallLot("343B17025", date(2019, 3, 31), "43547036909"),)
    two = parse_code_info("Lot #: 343B17025", product_ndcs=("43547036909", "43547036910"))
    assert two.lots[0].ndc is None


def test_more_code_info_continues_code_info() -> None:
    # D-1396-2016 is cut inside "Service Code": the half left ("Code 2K8870") may read as
    # a lot, as the module says; the lots on both sides of the cut are read.
    info = parse_code_info("Lot Number 160380161M , Exp. Date 5/8/2016 ;  Lot",
                           "Code 2K8870 , Lot Number 160950031C , Exp. Date 6/24/2016")
    read = [(lot.number, lot.expiry) for lot in info.lots]
    assert ("160380161M", date(2016, 5, 8)) in read
    assert ("160950031C", date(2016, 6, 24)) in read


def test_empty_code_info_says_nothing() -> None:
    assert parse_code_info(None) == parse_code_info("")
    assert parse_code_info(None).lots == ()
    assert not parse_code_info(None).all_lots


def test_a_lot_listed_twice_is_kept_once() -> None:
    assert lots("Lot #: a) 080515-2, Exp. 06/05/2019; b)  080515-1, Exp. 06/05/2019;   "
                "c) 080515-1, Exp. 06/05/2019;") == [("080515-2", date(2019, 6, 5)),
                                                     ("080515-1", date(2019, 6, 5))]


def test_a_compounders_unit_date_and_number_are_not_lot_or_expiry() -> None:
    # D-0115-2018 and Avella's labels: "date number lot", then the beyond-use date
    assert lots("Lot: 4/19/17 1445 248-86361S, BUD 6/18/2017") == [
        ("248-86361S", date(2017, 6, 18))]
    assert lots("Lots: 01/18/19 3261 83067S Exp. 6/17/2019; 10/18/18 0212 83061S "
                "Exp. 3/17/2019") == [("83067S", date(2019, 6, 17)),
                                      ("83061S", date(2019, 3, 17))]


def test_a_misprinted_expiry_leaves_its_lots_without_one() -> None:
    # D-0287-2016: "10/1//2015" is no date; the lot must not take the next lot's date
    assert lots("Lot Code: 20152104@12 BUD: 10/1//2015, 20150105@2 BUD: 10/28/2015") == [
        ("20152104@12", None), ("20150105@2", date(2015, 10, 28))]


def test_a_lot_ending_in_a_unit_letter_is_still_a_lot() -> None:
    # D-0789-2019: "040606L" is a lot, not 40,606 litres; "500g" is a quantity
    assert lots("Lot: 040606L Exp. 04/19") == [("040606L", date(2019, 4, 30))]
    assert lots("Lot: 500g jar A1234") == [("A1234", None)]
