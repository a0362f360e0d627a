"""NDCs: one code to 11 digits, NDCs in openFDA free text (examples copied from real
enforcement records), and the NDC a GTIN carries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsafe.errors import Invalid
from medsafe.interop.gs1 import gtin_check_digit
from medsafe.interop.openfda.ndc import (
    find_ndcs,
    format_ndc,
    ndc10_candidates,
    ndc_from_gtin,
    normalise_ndc,
    normalise_product_ndc,
    product_of,
)


@pytest.mark.parametrize(("written", "normal"), [
    ("0781-3182-73", "00781318273"),       # 4-4-2: the labeler gets the zero
    ("64679-902-01", "64679090201"),       # 5-3-2: the product gets it
    ("60505-0209-1", "60505020901"),       # 5-4-1: the package gets it
    ("59310-0202-12", "59310020212"),      # 5-4-2 already 11 digits
    ("00904513559", "00904513559"),        # 11 digits without hyphens
    ("NDC 0363-0073-02", "00363007302"),
    ("NDC: 68382-248-01", "68382024801"),
    ("NDC# 61553-169-50", "61553016950"),
    ("NDC # 0078-9559-89", "00078955989"),
    ("NDC No. 0409-7983-02", "00409798302"),
])
def test_an_ndc_is_normalised_to_eleven_digits_by_padding_its_short_segment(
        written: str, normal: str) -> None:
    assert normalise_ndc(written) == normal


@pytest.mark.parametrize(("written", "why"), [
    ("7025016201", "ambiguous"),           # ten digits: 4-4-2, 5-3-2 or 5-4-1?
    ("5031-440-03", "segments 4-3-2"),     # an item code, not a configuration
    ("073-3019-11", "segments 3-4-2"),     # a misprint in a real record
    ("888-658-6200", "segments 3-3-4"),    # a telephone number
    ("2015-06-30", "segments 4-2-2"),      # a date
    ("12345-678-9A", "only digits"),
    ("123456789", "9 digits"),
])
def test_what_is_not_an_ndc_is_refused_saying_why(written: str, why: str) -> None:
    with pytest.raises(Invalid, match=why):
        normalise_ndc(written)


def test_product_ndcs_are_normalised_to_nine_digits() -> None:
    assert normalise_product_ndc("64679-902") == "646790902"
    assert normalise_product_ndc("0093-7392") == "000937392"
    assert normalise_product_ndc("50383-0796") == "503830796"
    with pytest.raises(Invalid):
        normalise_product_ndc("37409-02199")


def test_an_eleven_digit_ndc_is_written_back_as_5_4_2() -> None:
    assert format_ndc("00781318273") == "00781-3182-73"
    assert product_of("00781318273") == "007813182"
    with pytest.raises(Invalid):
        format_ndc("0781318273")


def test_ten_undashed_digits_have_three_readings() -> None:
    assert ndc10_candidates("6467990201") == ("06467990201", "64679090201", "64679902001")


segments = st.sampled_from([(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)]).flatmap(
    lambda shape: st.tuples(*(st.text("0123456789", min_size=n, max_size=n) for n in shape)))


@given(segments)
def test_every_configuration_keeps_its_digits_in_order_and_gains_only_zeros(
        parts: tuple[str, str, str]) -> None:
    normal = normalise_ndc("-".join(parts))
    labeler, product, package = normal[:5], normal[5:9], normal[9:]
    assert (labeler, product, package) == (parts[0].zfill(5), parts[1].zfill(4),
                                           parts[2].zfill(2))
    assert normalise_ndc(format_ndc(normal)) == normal


def test_ndcs_are_found_in_real_product_descriptions() -> None:
    # D-1110-2015: the repackager's NDC and, after "MFG:", the manufacturer's
    text = ("Clarithromycin Tablets, USP, 500 mg, 20 Tablets, Rx Only, Dist. By: Wockhardt "
            "USA LLC, Parsippany, NJ 07054, Repackaged By: Blenheim Pharmacal Inc. North "
            "Blenheim, NY 12131, NDC 10544-522-20, MFG: 64679-904-02")
    assert find_ndcs(text) == ("10544052220", "64679090402")


def test_ndc_lists_and_undashed_codes_are_found_in_order_once_each() -> None:
    text = ("Valsartan and Hydrochlorothiazide Tablets, (a) 90-count bottle (NDC "
            "0378-6323-77), (b) 500-count bottles (NDC 0378-6323-05); NDC 0378-6323-77 "
            "again; DOCUSATE SODIUM, Distributed by: AidaPak Service, LLC, NDC 00536375701.")
    assert find_ndcs(text) == ("00378632377", "00378632305", "00536375701")


def test_phone_numbers_zip_codes_dates_and_lot_like_tokens_are_not_ndcs() -> None:
    text = ("Heritage Pharmaceuticals Inc., East Brunswick, NJ 08816. 1-866-901-DRUG (3784), "
            "(805) 497-8258, Chattanooga TN 37409-0219, compounded 2015-06-30, lots "
            "5031-440-03 and 160315-14, Lot 20130311-J, t01-13-2017@84, UPC 3 11917 15114 4, "
            "NDC 7025016201 (ten digits), 342023-172-044")
    assert find_ndcs(text) == ()


def test_a_code_labelled_as_another_kind_of_number_is_not_taken() -> None:
    assert find_ndcs("Sugar Land, TX 77478. Product Code: 75901-1205-35.") == ()
    assert find_ndcs("Mfr Item # 0967-57-2017619, Catalog No. 12345-678-90") == ()


def test_ndc_written_against_its_prefix_or_with_a_padded_labeler_is_read() -> None:
    assert find_ndcs("Batchupally - 500 090 India. NDC55111-466-01") == ("55111046601",)
    assert find_ndcs("Parsippany, NJ 07054 USA, NDC-52544-295-28") == ("52544029528",)
    # CareFusion prints its 5-digit labeler 54365 with a sixth, leading zero
    assert find_ndcs("CareFusion, El Paso, TX 79912, NDC 054365-400-11") == ("54365040011",)


def test_a_us_drug_gtin_carries_its_ndc_in_the_ten_digits_after_03() -> None:
    # openfda.upc 0364679902011 sits in the same record as package_ndc 64679-902-01
    assert ndc_from_gtin("0364679902011") == "6467990201"
    assert "64679090201" in ndc10_candidates(ndc_from_gtin("0364679902011"))
    assert ndc_from_gtin("364679902011") == "6467990201"        # UPC-A (GTIN-12)
    assert ndc_from_gtin("00364679902011") == "6467990201"      # GTIN-14, indicator 0
    body = "5036467990201"                                        # indicator 5 (a case)
    assert ndc_from_gtin(body + gtin_check_digit(body)) == "6467990201"


@pytest.mark.parametrize(("gtin", "why"), [
    ("0364679902012", "check digit"),
    ("0681131053938", "does not carry an NDC"),  # a retailer's own UPC
    ("12345", "not a GTIN"),
])
def test_a_gtin_without_an_ndc_is_refused(gtin: str, why: str) -> None:
    with pytest.raises(Invalid, match=why):
        ndc_from_gtin(gtin)


@given(st.text("0123456789", min_size=10, max_size=10), st.sampled_from("0123456789"))
def test_any_ndc_packed_into_a_gtin_14_comes_back_out(ndc10: str, indicator: str) -> None:
    body = indicator + "03" + ndc10
    assert ndc_from_gtin(body + gtin_check_digit(body)) == ndc10
