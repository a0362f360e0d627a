"""The VAERS CSV adapter: the real 1999 files (data/reports/vaers-1999) and small
malformed folders written in tmp_path."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from medsafe.cases.model import CaseReport
from medsafe.cases.rules import validity_problems
from medsafe.errors import Invalid
from medsafe.interop.vaers import TERMINOLOGY, read_vaers
from tests.support.shipped import VAERS_1999

DATA_HEADER = ("VAERS_ID,RECVDATE,STATE,AGE_YRS,CAGE_YR,CAGE_MO,SEX,RPT_DATE,SYMPTOM_TEXT,"
               "DIED,DATEDIED,L_THREAT,ER_VISIT,HOSPITAL,HOSPDAYS,X_STAY,DISABLE,RECOVD,"
               "VAX_DATE,ONSET_DATE,NUMDAYS,LAB_DATA,V_ADMINBY,V_FUNDBY,OTHER_MEDS,CUR_ILL,"
               "HISTORY,PRIOR_VAX,SPLTTYPE")
VAX_HEADER = "VAERS_ID,VAX_TYPE,VAX_MANU,VAX_LOT,VAX_DOSE,VAX_ROUTE,VAX_SITE,VAX_NAME"
SYMPTOM_HEADER = ("VAERS_ID,SYMPTOM1,SYMPTOMVERSION1,SYMPTOM2,SYMPTOMVERSION2,SYMPTOM3,"
                  "SYMPTOMVERSION3,SYMPTOM4,SYMPTOMVERSION4,SYMPTOM5,SYMPTOMVERSION5")


@pytest.fixture(scope="module")
def vaers_1999() -> list[CaseReport]:
    if not (VAERS_1999 / "1999VAERSDATA.csv").exists():
        pytest.skip("needs data/reports/vaers-1999")
    return list(read_vaers(VAERS_1999))


def raw_rows(name: str, vaers_id: str) -> list[dict[str, str]]:
    with (VAERS_1999 / name).open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["VAERS_ID"] == vaers_id]


def us_date(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


# --- the real 1999 files -------------------------------------------------------------


def test_one_report_per_distinct_vaers_id_of_the_data_file(
        vaers_1999: list[CaseReport]) -> None:
    with (VAERS_1999 / "1999VAERSDATA.csv").open(newline="", encoding="utf-8") as handle:
        distinct = {row["VAERS_ID"] for row in csv.DictReader(handle)}
    ids = [report.sender_report_id for report in vaers_1999]
    assert len(ids) == len(set(ids)) == len(distinct)
    assert set(ids) == distinct


def test_every_symptom_and_vaccine_row_lands_in_its_report(
        vaers_1999: list[CaseReport]) -> None:
    with (VAERS_1999 / "1999VAERSVAX.csv").open(newline="", encoding="utf-8") as handle:
        vaccine_rows = sum(1 for _ in csv.DictReader(handle))
    with (VAERS_1999 / "1999VAERSSYMPTOMS.csv").open(newline="", encoding="utf-8") as handle:
        pairs = {(row["VAERS_ID"], row[f"SYMPTOM{n}"].casefold())
                 for row in csv.DictReader(handle) for n in range(1, 6)
                 if row[f"SYMPTOM{n}"]}
    assert sum(len(r.suspects) for r in vaers_1999) == vaccine_rows
    assert sum(len(r.reactions) for r in vaers_1999) == len(pairs)


def test_a_fatal_report_matches_its_raw_lines_field_by_field(
        vaers_1999: list[CaseReport]) -> None:
    vaers_id = "127076"  # died, hospitalised, 3 vaccines, 4 symptom rows, SPLTTYPE
    (data,) = raw_rows("1999VAERSDATA.csv", vaers_id)
    vaccines = raw_rows("1999VAERSVAX.csv", vaers_id)
    symptom_rows = raw_rows("1999VAERSSYMPTOMS.csv", vaers_id)
    report = next(r for r in vaers_1999 if r.sender_report_id == vaers_id)

    assert report.worldwide_id == f"VAERS-{vaers_id}"
    assert report.first_received == report.latest_received == us_date(data["RECVDATE"])
    assert report.report_type == "spontaneous"
    assert data["STATE"] == "OH"
    assert report.occurrence_country == "US"
    assert report.other_case_ids == (data["SPLTTYPE"],)
    assert report.narrative == data["SYMPTOM_TEXT"]
    assert report.patient.age == float(data["AGE_YRS"])
    assert report.patient.age_unit == "year"
    assert data["SEX"] == "M"
    assert report.patient.sex == "male"
    assert report.patient.died_on == us_date(data["DATEDIED"]).isoformat()
    assert report.patient.medical_history_text is not None
    assert report.patient.medical_history_text.startswith(data["HISTORY"])

    terms = [row[f"SYMPTOM{n}"] for row in symptom_rows for n in range(1, 6)
             if row[f"SYMPTOM{n}"]]
    versions = [row[f"SYMPTOMVERSION{n}"] for row in symptom_rows for n in range(1, 6)
                if row[f"SYMPTOM{n}"]]
    assert len(symptom_rows) > 1
    assert [r.term for r in report.reactions] == terms
    assert [r.coded.version for r in report.reactions if r.coded] == versions
    assert {r.coded.terminology for r in report.reactions if r.coded} == {TERMINOLOGY}
    onset = us_date(data["ONSET_DATE"]).isoformat()
    assert (data["DIED"], data["HOSPITAL"]) == ("Y", "Y")
    for reaction in report.reactions:
        assert reaction.start == onset
        assert reaction.outcome == "fatal"
        assert reaction.seriousness.death
        assert reaction.seriousness.hospitalisation
        assert reaction.seriousness.life_threatening == (data["L_THREAT"] == "Y")
        assert reaction.seriousness.disability == (data["DISABLE"] == "Y")

    assert len(report.suspects) == len(vaccines) == 3
    given = us_date(data["VAX_DATE"]).isoformat()
    for drug, row in zip(report.suspects, vaccines, strict=True):
        assert drug.product_name == row["VAX_NAME"]
        assert drug.substances == (row["VAX_TYPE"],)
        assert drug.manufacturer == row["VAX_MANU"]
        assert drug.lot_numbers == ((row["VAX_LOT"],) if row["VAX_LOT"] else ())
        assert drug.route == (row["VAX_ROUTE"] or None)
        assert drug.start == given
        if row["VAX_DOSE"]:
            assert drug.dose_text is not None
            assert f"previous doses: {row['VAX_DOSE']}" in drug.dose_text


def test_a_report_with_more_than_five_terms_keeps_them_all(
        vaers_1999: list[CaseReport]) -> None:
    rows = raw_rows("1999VAERSSYMPTOMS.csv", "118591")
    terms = [row[f"SYMPTOM{n}"] for row in rows for n in range(1, 6) if row[f"SYMPTOM{n}"]]
    report = next(r for r in vaers_1999 if r.sender_report_id == "118591")
    assert len(rows) == 3
    assert [r.term for r in report.reactions] == terms


def test_public_vaers_reporter_is_known_to_vaers_but_withheld(
        vaers_1999: list[CaseReport]) -> None:
    report = vaers_1999[0]
    assert [(s.withheld, s.qualification, s.given_name) for s in report.primary_sources] == [
        (True, None, None)]
    assert not any("reporter" in problem for problem in validity_problems(report))
    without = report.model_copy(update={"primary_sources": ()})
    assert any("reporter" in problem for problem in validity_problems(without))


def test_progress_reaches_the_total_size_of_the_three_files() -> None:
    if not VAERS_1999.exists():
        pytest.skip("needs data/reports/vaers-1999")
    calls: list[tuple[int, int, str]] = []
    for _ in read_vaers(VAERS_1999, on_progress=lambda d, t, w: calls.append((d, t, w))):
        pass
    total = sum(p.stat().st_size for p in VAERS_1999.glob("1999VAERS*.csv"))
    assert calls[-1][:2] == (total, total)
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)


# --- small folders in tmp_path ---------------------------------------------------------


def data_row(vaers_id: str, **values: str) -> str:
    row = dict.fromkeys(DATA_HEADER.split(","), "")
    row.update(VAERS_ID=vaers_id, RECVDATE="03/01/1999", STATE="MA", AGE_YRS="4.0",
               SEX="F", SYMPTOM_TEXT="fever 2MAR99", RECOVD="Y", VAX_DATE="02/28/1999",
               ONSET_DATE="03/01/1999")
    row.update(values)
    return ",".join(f'"{v}"' if "," in v else v for v in row.values())


def write_folder(folder: Path, data: list[str], vax: list[str] | None = None,
                 symptoms: list[str] | None = None, encoding: str = "ascii") -> Path:
    folder.mkdir(exist_ok=True)
    ids = [line.split(",", 1)[0] for line in data]
    vax = vax if vax is not None else [f"{i},MMR,MERCK & CO. INC.,L1,0,SC,LA,MMR II"
                                       for i in ids]
    symptoms = symptoms if symptoms is not None else [f"{i},Pyrexia,8.10,,,,,,,," for i in ids]
    for name, header, lines in (("1999VAERSDATA.csv", DATA_HEADER, data),
                                ("1999VAERSVAX.csv", VAX_HEADER, vax),
                                ("1999VAERSSYMPTOMS.csv", SYMPTOM_HEADER, symptoms)):
        text = "\r\n".join([header, *lines]) + "\r\n"
        (folder / name).write_bytes(text.encode(encoding))
    return folder


def malformed_folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "vaers", [
        data_row("1"),
        data_row("2", RECVDATE="1999-03-01"),  # line 3: wrong date format
        data_row("3", AGE_YRS="four"),  # line 4: age not a number
        data_row("4"),
    ], vax=[f"{i},MMR,MERCK & CO. INC.,L1,0,SC,LA,MMR II" for i in "12349"])


def test_first_malformed_row_raises_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as raised:
        list(read_vaers(malformed_folder(tmp_path)))
    assert raised.value.where == "1999VAERSDATA.csv:3"
    assert "RECVDATE" in raised.value.reason


def test_keep_going_skips_malformed_rows_and_reports_each(tmp_path: Path) -> None:
    problems: list[Invalid] = []
    reports = list(read_vaers(malformed_folder(tmp_path), keep_going=True,
                              on_problem=problems.append))
    assert [r.sender_report_id for r in reports] == ["1", "4"]
    assert [p.where for p in problems] == ["1999VAERSDATA.csv:3", "1999VAERSDATA.csv:4",
                                           "1999VAERSVAX.csv:6"]
    assert "not in 1999VAERSDATA.csv" in problems[-1].reason


def test_more_problems_than_allowed_raise(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="more than 2 malformed rows"):
        list(read_vaers(malformed_folder(tmp_path), keep_going=True, max_problems=2))


def test_a_row_with_the_wrong_number_of_fields_is_a_problem(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1")],
                          vax=["1,MMR,MERCK & CO. INC.,L1,0,SC,LA,MMR II", "1,MMR"])
    problems: list[Invalid] = []
    reports = list(read_vaers(folder, keep_going=True, on_problem=problems.append))
    assert len(reports[0].suspects) == 1
    assert [p.where for p in problems] == ["1999VAERSVAX.csv:3"]
    assert "expected 8 fields" in problems[0].reason


def test_a_missing_column_stops_the_import_even_when_keeping_going(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1")])
    data = folder / "1999VAERSDATA.csv"
    data.write_text(data.read_text().replace("RECVDATE", "RECEIVED"))
    with pytest.raises(Invalid, match="missing column"):
        list(read_vaers(folder, keep_going=True))


def test_a_folder_without_the_three_files_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="VAERSDATA"):
        list(read_vaers(tmp_path))


def test_windows_1252_text_is_decoded(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1", SYMPTOM_TEXT="child’s arm")],
                          encoding="cp1252")
    (report,) = read_vaers(folder)
    assert report.narrative == "child’s arm"


def test_emergency_room_visit_alone_is_not_serious(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1", ER_VISIT="Y")])
    (report,) = read_vaers(folder)
    assert not report.serious


def test_prolonged_hospital_stay_is_hospitalisation(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1", X_STAY="Y")])
    (report,) = read_vaers(folder)
    assert [r.seriousness.criteria() for r in report.reactions] == [("hospitalisation",)]


def test_other_medicines_become_one_concomitant_drug_unless_none(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1", OTHER_MEDS="Amoxil, Tylenol"),
                                               data_row("2", OTHER_MEDS="NONE")])
    first, second = read_vaers(folder)
    assert [(d.role, d.product_name) for d in first.drugs if not d.is_suspect] == [
        ("concomitant", "Amoxil, Tylenol")]
    assert all(d.is_suspect for d in second.drugs)


def test_blank_state_leaves_the_country_unknown(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1", STATE=""),
                                               data_row("2", STATE="PR")])
    countries = [r.occurrence_country for r in read_vaers(folder)]
    assert countries == [None, "US"]


def test_reading_is_lazy(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "vaers", [data_row("1"), data_row("2", SEX="X")])
    reports: Iterator[CaseReport] = read_vaers(folder)
    assert next(reports).sender_report_id == "1"
    with pytest.raises(Invalid, match="SEX"):
        next(reports)
