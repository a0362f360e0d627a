"""Matching a recall to stored lots: NDCs however they are written, lot numbers however
firms and pharmacies print them, expiry only when both sides know it, and "all lots".
The recall texts are copied from real enforcement records of the openFDA export (recall
number in the comment) and read with medsafe's own openFDA parsing."""

from __future__ import annotations

from datetime import date
from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsafe.interop.openfda.lots import parse_code_info
from medsafe.interop.openfda.ndc import find_ndcs
from medsafe.recalls.matching import (
    RecallKeys,
    StoredLot,
    lot_key,
    match,
    match_many,
    ndc_spellings,
    product_keys,
    same_expiry,
    stored_ndcs,
)
from medsafe.recalls.model import RecallLot, RecallProduct

_ids = count(1)


def recalled(description: str, code_info: str) -> RecallKeys:
    """The keys of a product read as the openFDA reader reads it (NDCs from the
    description and code_info, lots from code_info)."""
    named = find_ndcs(description)
    lots = parse_code_info(code_info, product_ndcs=named)
    return product_keys(RecallProduct(description=description,
                                      ndcs=tuple(dict.fromkeys(named + find_ndcs(code_info))),
                                      lots=lots.lots, all_lots=lots.all_lots,
                                      code_info=code_info))


def stored(code: str, number: str, expiry: date | None = None) -> StoredLot:
    lot_id = next(_ids)
    return StoredLot(lot_id=lot_id, product_id=lot_id, product_code=code,
                     product_name="stored product", lot_number=number, expiry=expiry)


def numbers(keys: RecallKeys, *lots: StoredLot) -> list[str]:
    return [found.lot_number for found in match(keys, lots)]


# -- NDCs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["0143-1176-05", "00143-1176-05", "00143117605"])
def test_a_stored_ndc_written_any_unambiguous_way_is_the_same_11_digits(code: str) -> None:
    assert stored_ndcs(code) == ("00143117605",)


def test_ten_digits_without_hyphens_are_matched_under_each_reading() -> None:
    assert stored_ndcs("0143117605") == ("00143117605", "01431017605", "01431176005")


@pytest.mark.parametrize("code", ["SYN-ALD-BAC10", "5031-440-03", "12345", ""])
def test_a_code_that_is_no_ndc_stands_for_no_ndc(code: str) -> None:
    assert stored_ndcs(code) == ()


@given(st.from_regex(r"\A[0-9]{11}\Z"))
def test_every_spelling_of_an_ndc_is_read_back_as_that_ndc(ndc: str) -> None:
    spellings = ndc_spellings(ndc)
    assert ndc in spellings
    assert all(ndc in stored_ndcs(spelling) for spelling in spellings)


def test_the_spellings_of_an_ndc_are_those_people_write() -> None:
    # Each segment that starts with a padding zero may be written without it; only one
    # of those configurations is the product's, but looking up all of them costs nothing.
    assert set(ndc_spellings("00591551305")) == {
        "00591-5513-05", "00591551305", "0591-5513-05", "0591551305", "00591-5513-5",
        "0059155135"}
    assert set(ndc_spellings("67877061415")) == {
        "67877-0614-15", "67877061415", "67877-614-15", "6787761415"}


# -- lot numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize(("printed", "held"), [
    ("2155-111", "2155111"),  # D-1742-2019
    ("2155-111A", "lot 2155-111a"),  # D-1742-2019
    ("19143017", "LOT#19143017"),  # D-0173-2021
    ("19143017", "Lot No. 19143017"),
    ("19143017", "# 19143017"),
    ("112621/E", "112621 E"),  # D-0570-2016
    ("07142015#7192@1", "07142015-7192-1"),  # D-0733-2016, a compounder's lot
    ("19-S00023", "19 S00023"),  # D-1117-2020
    ("69364A", "batch: 69364a"),  # D-150-2013
    ("\uff16\uff19\uff13\uff16\uff14A", "69364A"),  # full-width digits, NFKC
])
def test_a_lot_printed_by_the_firm_and_held_by_the_pharmacy_is_one_lot(
        printed: str, held: str) -> None:
    assert lot_key(printed) == lot_key(held)
    assert lot_key(printed)


@pytest.mark.parametrize(("one", "other"), [
    ("2155-111", "2155-111A"),  # D-1742-2019: two lots of one recall
    ("F10918", "F10918-2"),  # D-0573-2016
    ("MCMR1308029NS", "MCMR1308029NS-4202015"),  # D-0937-2017
    ("0123", "123"),  # leading zeros are kept
    ("LOTUS1", "US1"),  # "LOT" before a letter is part of the number
])
def test_different_lots_keep_different_keys(one: str, other: str) -> None:
    assert lot_key(one) != lot_key(other)


def test_a_number_that_is_only_punctuation_has_no_key() -> None:
    assert lot_key("--") == ""


# -- expiry ----------------------------------------------------------------------------------

def test_expiry_tells_lots_apart_only_when_both_are_known_and_months_differ() -> None:
    assert same_expiry(date(2021, 5, 31), date(2021, 5, 1))  # "Exp 05/21" vs the pack's day
    assert not same_expiry(date(2021, 5, 31), date(2021, 6, 30))
    assert same_expiry(None, date(2021, 6, 30))
    assert same_expiry(date(2021, 5, 31), None)


def test_a_stored_lot_with_another_expiry_is_another_lot() -> None:
    # D-238-2013: five lots of tizanidine 4 mg, four expiring 09/15, one 10/15
    keys = recalled("Tizanidine Tablets USP, 4 mg, 150-count tablets per bottle, Rx Only, "
                    "Mfd. By: Dr. Reddy's Laboratories Limited, Bachepally - 500 090 India; "
                    "NDC 55111-180-15.",
                    "Lot #: C208625, C208984, C209113, C209369, Exp 09/15; and C209680, "
                    "Exp 10/15.")
    assert numbers(keys,
                   stored("55111-180-15", "C208625", date(2015, 9, 1)),
                   stored("55111-180-15", "C209680", date(2015, 9, 30)),
                   stored("55111-180-15", "C209369", None)) == ["C208625", "C209369"]


def test_one_number_printed_with_two_expiries_matches_a_stored_lot_of_either() -> None:
    # D-1238-2014, the Walgreens-labelled nicotine lozenge (code_info cut to its lots)
    keys = recalled("Nicotine Walgreens, Distributed by: Walgreen Co., 200 Wilmot Rd., "
                    "Deerfield, IL 60015. 72 Count NDC: 0363-0446-01.",
                    "Labeled C) 72 Ct Vial:  Lot # 13875 (exp 5/14), 13642 (exp 7/14), "
                    "13770 (exp 8/14) & 13875 (exp 11/14).")
    assert numbers(keys, stored("0363-0446-01", "13875", date(2014, 11, 30)),
                   stored("00363044601", "13875", date(2014, 5, 31)),
                   stored("0363-0446-01", "13875", date(2014, 6, 30))) == ["13875", "13875"]


# -- recalls ---------------------------------------------------------------------------------

GABLOFEN = ("Gablofen (baclofen injection), 50 mcg/mL, Single Use Syringe, Rx only, packaged "
            "in a box containing one 1 mL syringe, Distributed by: Primal Critical Care, Inc., "
            "3950 Schelden Circle Bethlehem, PA, 18017, NDC 66794-151-01")


def test_a_recall_of_two_lots_matches_those_lots_of_that_product_only() -> None:
    keys = recalled(GABLOFEN, "Lot #: 2155-111, 2155-111A, Exp 6/20")  # D-1742-2019
    assert numbers(
        keys,
        stored("66794-151-01", "2155111", date(2020, 6, 30)),
        stored("66794-0151-01", "lot 2155-111A"),
        stored("66794-151-01", "2155-112"),  # another lot of the product
        stored("66794-155-01", "2155-111"),  # the same number on another product
        stored("SYN-ALD-BAC10", "2155-111"),  # a synthetic product
    ) == ["2155111", "lot 2155-111A"]


def test_a_recall_of_all_lots_matches_every_lot_of_its_ndc_and_no_other() -> None:
    # D-1648-2019: "All lots within expiry" of one compounded diazepam syringe
    keys = recalled("diazePAM 5 MG/ML INJECTION SOLUTION (C-IV) SYR, 2 ML per syringe, RXQ "
                    "Compounding, 340 West State Street, Unit 9, Athens, OH 45701, "
                    "NDC 70731-0929-02", "All lots within expiry")
    assert keys.all_lots == {"70731092902"}
    found = match(keys, [stored("70731-929-02", "A1"), stored("70731092902", "B2"),
                         stored("70731-929-03", "A1")])
    assert [(lot.lot_number, lot.by, lot.ndc) for lot in found] == [
        ("A1", "all lots", "70731092902"), ("B2", "all lots", "70731092902")]


def test_a_lot_tied_to_one_ndc_is_not_matched_under_the_other_ndcs_of_the_record() -> None:
    # D-1191-2018: openFDA's block lists the 2 mg and 4 mg packages; the lot is the 2 mg's
    product = RecallProduct(
        description="Tizanidine HCl Tablets, USP 2mg, 150-count bottles, NDC 55111-179-15",
        ndcs=("55111017915", "55111018015"),
        lots=(RecallLot(number="T800304", expiry=date(2021, 3, 31), ndc="55111017915"),))
    assert numbers(product_keys(product), stored("55111-179-15", "T800304"),
                   stored("55111-180-15", "T800304")) == ["T800304"]


def test_lots_the_recall_ties_to_no_ndc_are_matched_under_each_ndc_of_the_product() -> None:
    # D-150-2013: two bottle sizes, three lots, no lot tied to one of them
    keys = recalled("Carisoprodol Tablets, USP, 350 mg, packaged in a) 500-count tablets per "
                    "bottle (NDC 0143-1176-05) and b) 1000-count tablets per bottle (NDC "
                    "0143-1176-10), Rx only, Manufactured by: West-ward Pharmaceutical Corp.",
                    "Lot #: 69364A, 69365A, and 69365B, Exp 10/15")
    assert numbers(keys, stored("0143-1176-05", "69364A"), stored("0143-1176-10", "69365B"),
                   stored("0143-1176-01", "69365A")) == ["69364A", "69365B"]


def test_a_recall_without_an_ndc_matches_nothing_and_names_its_lots_as_unmatchable() -> None:
    # D-0733-2016: a compounder's baclofen, no NDC anywhere in the record
    keys = recalled("Baclofen, 2.5 mg/mL INJ, in 100 mL vial, Rx Only, TexasStar Pharmacy, "
                    "Plano, Texas 75023",
                    "Lot # 07142015#7192@1,  Exp 09/12/2015; 09112015#7192@1, Exp 11/10/2015")
    assert keys.ndcs == frozenset()
    assert keys.unmatchable == ("07142015#7192@1", "09112015#7192@1")
    assert match(keys, [stored("00000-0000-00", "07142015#7192@1")]) == []


def test_a_recall_without_an_ndc_is_matched_among_its_own_firms_lots_only() -> None:
    # medsafe's own recall of two lots held in its store, whose products carry no NDC
    product = RecallProduct(description="Baclofen 10 mg tablets",
                            lots=(RecallLot(number="SYN-BAC10-00014"),
                                  RecallLot(number="syn-bac10-00015")))
    keys = product_keys(product, firm="Aldgate Pharma (synthetic)")
    assert keys.unmatchable == ()
    ours, theirs = "Aldgate Pharma (synthetic)", "Another Firm"
    lots = [StoredLot(1, 1, "SYN-ALD-BAC10", "baclofen", "SYN-BAC10-00014", None, ours),
            StoredLot(2, 1, "SYN-ALD-BAC10", "baclofen", "SYN-BAC10-00015", None,
                      "ALDGATE PHARMA (SYNTHETIC)"),
            StoredLot(3, 1, "SYN-ALD-BAC10", "baclofen", "SYN-BAC10-00016", None, ours),
            StoredLot(4, 2, "SYN-OTH-BAC10", "baclofen", "SYN-BAC10-00014", None, theirs),
            StoredLot(5, 3, "SYN-ALD-BAC10", "baclofen", "SYN-BAC10-00015", None)]
    found = match(keys, lots)
    assert [(lot.lot_id, lot.by, lot.ndc) for lot in found] == [
        (1, "firm lot", ""), (2, "firm lot", "")]
    assert product_keys(product).unmatchable == ("SYN-BAC10-00014", "syn-bac10-00015")


def test_many_recalls_matched_at_once_find_what_each_finds_alone() -> None:
    recalls = {
        "D-1742-2019": recalled(GABLOFEN, "Lot #: 2155-111, 2155-111A, Exp 6/20"),
        "D-0173-2021": recalled("Tizanidine Tablets, USP 4mg, 150 Tablets per Bottle, "
                                "NDC: 67877-614-15.", "Lot #19143017, Exp. 05/31/2021"),
        "all": recalled("Gablofen, NDC 66794-151-01", "All lots"),
        "none": RecallKeys(),
    }
    lots = [stored("66794-151-01", "2155-111"), stored("67877-614-15", "19143017"),
            stored("67877-614-15", "19143018"), stored("6679415101", "2155-111A")]
    together = match_many(recalls, lots)
    assert together == {name: found for name, keys in recalls.items()
                        if (found := match(keys, lots))}
    assert [lot.lot_number for lot in together["all"]] == ["2155-111", "2155-111A"]
    assert "none" not in together
