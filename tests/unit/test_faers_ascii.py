"""FDA's quarterly ASCII extracts (FAERS 2017Q2 and legacy AERS 2004Q1 samples, and small
quarters written here) read as CaseReports: the latest version of each case, deletions
honoured, problems named by file and line.

Expected values come from the raw files, read here with the csv module, and from the code
tables of FDA's ASC_NTS document (restated below), never from the reader's own output.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest

from medsafe.cases.model import CaseReport
from medsafe.errors import Invalid
from medsafe.interop.faers import (
    FaersReader,
    RowProblem,
    find_quarter,
    read_deleted_ids,
    read_faers,
)
from tests.support.shipped import FAERS_SAMPLES

SAMPLES = FAERS_SAMPLES
AERS_2004Q1 = SAMPLES / "aers_ascii_2004q1" / "ascii"
FAERS_2017Q2 = SAMPLES / "faers_ascii_2017q2" / "ascii"

# FDA ASC_NTS code tables, as the tests expect them mapped.
ROLES = {"PS": "suspect", "SS": "suspect", "C": "concomitant", "I": "interacting"}
OCCUPATIONS = {"MD": "physician", "PH": "pharmacist", "OT": "other_health_professional",
               "LW": "lawyer", "CN": "consumer"}
CHALLENGES = {"Y": "positive", "N": "negative", "U": "unknown", "D": "not_applicable"}
SEXES = {"M": "male", "F": "female", "UNK": "unknown"}
OUTCOMES = {"DE": "death", "LT": "life_threatening", "HO": "hospitalisation",
            "DS": "disability", "CA": "congenital_anomaly", "RI": "required_intervention",
            "OT": "other_medically_important"}

FAERS_HEADERS = {
    "DEMO": "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$"
            "rept_cod$auth_num$mfr_num$mfr_sndr$lit_ref$age$age_cod$age_grp$sex$e_sub$wt$"
            "wt_cod$rept_dt$to_mfr$occp_cod$reporter_country$occr_country",
    "DRUG": "primaryid$caseid$drug_seq$role_cod$drugname$prod_ai$val_vbm$route$dose_vbm$"
            "cum_dose_chr$cum_dose_unit$dechal$rechal$lot_num$exp_dt$nda_num$dose_amt$"
            "dose_unit$dose_form$dose_freq",
    "REAC": "primaryid$caseid$pt$drug_rec_act",
    "OUTC": "primaryid$caseid$outc_cod",
    "RPSR": "primaryid$caseid$rpsr_cod",
    "THER": "primaryid$caseid$dsg_drug_seq$start_dt$end_dt$dur$dur_cod",
    "INDI": "primaryid$caseid$indi_drug_seq$indi_pt",
}
AERS_HEADERS = {
    "DEMO": "ISR$CASE$I_F_COD$FOLL_SEQ$IMAGE$EVENT_DT$MFR_DT$FDA_DT$REPT_COD$MFR_NUM$"
            "MFR_SNDR$AGE$AGE_COD$GNDR_COD$E_SUB$WT$WT_COD$REPT_DT$OCCP_COD$DEATH_DT$TO_MFR$"
            "CONFID$",
    "DRUG": "ISR$DRUG_SEQ$ROLE_COD$DRUGNAME$VAL_VBM$ROUTE$DOSE_VBM$DECHAL$RECHAL$LOT_NUM$"
            "EXP_DT$NDA_NUM$",
    "REAC": "ISR$PT$",
    "OUTC": "ISR$OUTC_COD$",
    "RPSR": "ISR$RPSR_COD$",
    "THER": "ISR$DRUG_SEQ$START_DT$END_DT$DUR$DUR_COD$",
    "INDI": "ISR$DRUG_SEQ$INDI_PT$",
}


# -- helpers -------------------------------------------------------------------------

def needs(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"needs data/reports/faers/{folder.parent.name}")
    return folder


def file_of(folder: Path, kind: str) -> Path:
    return next(p for p in folder.iterdir() if p.name.upper().startswith(kind))


def raw_rows(folder: Path, kind: str) -> list[dict[str, str]]:
    """A file's data rows by lower-case header name, read with the csv module."""
    with file_of(folder, kind).open(encoding="latin-1", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="$", quoting=csv.QUOTE_NONE))
    header = [name.lower() for name in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def line(header: str, **values: str) -> str:
    """One data line for `header`, every column not given left empty."""
    names = header.lower().split("$")
    unknown = set(values) - set(names)
    assert not unknown, unknown
    return "$".join(values.get(name, "") for name in names)


def write_quarter(folder: Path, headers: dict[str, str], rows: dict[str, list[str]],
                  suffix: str = "17Q2.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, header in headers.items():
        body = "".join(f"{row}\n" for row in rows.get(kind, []))
        (folder / f"{kind}{suffix}").write_text(f"{header}\n{body}", encoding="utf-8")
    return folder


def faers_report(pid: str, case: str, version: str, *, drug: str, term: str,
                 init: str = "20170105", fda: str = "20170410") -> dict[str, list[str]]:
    h = FAERS_HEADERS
    return {
        "DEMO": [line(h["DEMO"], primaryid=pid, caseid=case, caseversion=version,
                      init_fda_dt=init, fda_dt=fda, rept_cod="EXP", occp_cod="MD")],
        "DRUG": [line(h["DRUG"], primaryid=pid, caseid=case, drug_seq="1", role_cod="PS",
                      drugname=drug)],
        "REAC": [line(h["REAC"], primaryid=pid, caseid=case, pt=term)],
    }


def merged(*reports: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for report in reports:
        for kind, rows in report.items():
            out.setdefault(kind, []).extend(rows)
    return out


def copy_sample(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def replace_line(path: Path, number: int, new: str) -> None:
    lines = path.read_text(encoding="latin-1").splitlines()
    lines[number - 1] = new
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")


@pytest.fixture
def faers_copy(tmp_path: Path) -> Path:
    return copy_sample(needs(FAERS_2017Q2), tmp_path / "q")


def by_key(reports: Iterable[CaseReport]) -> dict[str, CaseReport]:
    return {report.sender_report_id: report for report in reports}


# -- layout --------------------------------------------------------------------------

@pytest.mark.parametrize(("folder", "era"), [(AERS_2004Q1, "aers"), (FAERS_2017Q2, "faers")])
def test_layout_is_recognised_from_the_demo_header(folder: Path, era: str) -> None:
    quarter = find_quarter(needs(folder))
    assert quarter.layout.era == era
    assert {kind: path.name for kind, path in quarter.files.items()} == {
        kind: file_of(folder, kind).name for kind in quarter.files}


def test_files_are_found_whatever_the_case_of_their_names_and_inside_ascii(
        tmp_path: Path) -> None:
    sample = needs(FAERS_2017Q2)
    inner = tmp_path / "faers_ascii_2017q2" / "ASCII"
    inner.mkdir(parents=True)
    for path in sample.iterdir():
        shutil.copy(path, inner / path.name.lower().replace(".txt", ".TXT"))
    (inner / "ASC_NTS.pdf").write_bytes(b"%PDF-1.4")  # FDA ships PDFs beside the data
    assert len(list(read_faers(tmp_path / "faers_ascii_2017q2"))) == len(
        {row["caseid"] for row in raw_rows(sample, "DEMO")})


def test_a_quarter_missing_one_of_its_seven_files_is_refused(tmp_path: Path) -> None:
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, {})
    (folder / "THER17Q2.txt").unlink()
    with pytest.raises(Invalid, match="THER"):
        read_faers(folder)


# -- which reports become cases --------------------------------------------------------

@pytest.mark.parametrize(("folder", "case_column"),
                         [(AERS_2004Q1, "case"), (FAERS_2017Q2, "caseid")])
def test_one_case_report_per_distinct_case_in_demo(folder: Path, case_column: str) -> None:
    cases = {row[case_column] for row in raw_rows(needs(folder), "DEMO")}
    reports = list(read_faers(folder))
    assert len(reports) == len(cases)
    assert {r.worldwide_id for r in reports} == {f"FAERS-{case}" for case in cases}


def test_latest_version_of_a_case_is_read_and_older_ones_are_not(tmp_path: Path) -> None:
    # The newer version comes first: the choice must not depend on the order of rows.
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, merged(
        faers_report("1002", "100", "2", drug="NEWDRUG", term="New term", fda="20170420"),
        faers_report("1001", "100", "1", drug="OLDDRUG", term="Old term", fda="20170402"),
        faers_report("2001", "200", "1", drug="OTHER", term="Other term"),
    ))
    reader = FaersReader(folder)
    reports = by_key(reader)
    assert set(reports) == {"1002", "2001"}
    latest = reports["1002"]
    assert [d.product_name for d in latest.drugs] == ["NEWDRUG"]
    assert [r.verbatim for r in latest.reactions] == ["New term"]
    assert (latest.first_received, latest.latest_received) == (date(2017, 1, 5),
                                                               date(2017, 4, 20))
    assert reader.stats.superseded == 1


def test_legacy_aers_case_is_read_from_the_isr_fda_received_last(tmp_path: Path) -> None:
    h = AERS_HEADERS
    rows = {
        "DEMO": [line(h["DEMO"], isr="9001", case="500", fda_dt="20040110", i_f_cod="I"),
                 line(h["DEMO"], isr="9000", case="500", fda_dt="20040220", i_f_cod="F")],
        "DRUG": [line(h["DRUG"], isr="9001", drug_seq="71", role_cod="PS", drugname="FIRST"),
                 line(h["DRUG"], isr="9000", drug_seq="72", role_cod="PS",
                      drugname="FOLLOW-UP")],
    }
    (report,) = read_faers(write_quarter(tmp_path / "q", h, rows, suffix="04Q1.TXT"))
    assert report.sender_report_id == "9000"
    assert [d.product_name for d in report.drugs] == ["FOLLOW-UP"]
    # No initial-receipt date in AERS: the earliest fda_dt of the case's ISRs.
    assert (report.first_received, report.latest_received) == (date(2004, 1, 10),
                                                               date(2004, 2, 20))


def test_cases_on_the_deletion_list_are_skipped(tmp_path: Path) -> None:
    demo = raw_rows(needs(FAERS_2017Q2), "DEMO")
    gone = demo[3]["caseid"]
    listing = tmp_path / "DELETE17Q2.txt"
    listing.write_text(f" \n{gone}\n99999999\n", encoding="ascii")  # FDA's blank first line
    deleted = read_deleted_ids(listing)
    assert gone in deleted
    reader = FaersReader(FAERS_2017Q2, deleted_case_ids=deleted)
    reports = list(reader)
    assert f"FAERS-{gone}" not in {r.worldwide_id for r in reports}
    assert len(reports) == len({row["caseid"] for row in demo}) - 1
    assert reader.stats.deleted == sum(row["caseid"] == gone for row in demo)


def test_deletion_list_line_that_is_not_a_caseid_is_refused_with_its_line(
        tmp_path: Path) -> None:
    listing = tmp_path / "DELETE17Q2.txt"
    listing.write_text("\n12345\nnot-a-case\n", encoding="ascii")
    with pytest.raises(Invalid) as caught:
        read_deleted_ids(listing)
    assert caught.value.where == "DELETE17Q2.txt:3"


# -- problems ------------------------------------------------------------------------

def test_malformed_row_stops_the_read_before_any_case_naming_file_and_line(
        faers_copy: Path) -> None:
    drug = file_of(faers_copy, "DRUG")
    original = drug.read_text(encoding="latin-1").splitlines()[4]
    replace_line(drug, 5, original + "$an extra field")
    cases = read_faers(faers_copy)
    with pytest.raises(Invalid) as caught:
        next(cases)
    assert caught.value.where == f"{drug.name}:5"
    assert "fields" in caught.value.reason


def test_keep_going_reports_the_problem_and_reads_the_rest(faers_copy: Path) -> None:
    drug = file_of(faers_copy, "DRUG")
    broken = drug.read_text(encoding="latin-1").splitlines()[4]
    pid, seq = broken.split("$")[0], broken.split("$")[2]
    replace_line(drug, 5, broken + "$an extra field")
    seen: list[RowProblem] = []
    reports = by_key(read_faers(faers_copy, keep_going=True, on_problem=seen.append))
    assert [(p.file, p.line) for p in seen] == [(drug.name, 5)]
    assert len(reports) == len({row["caseid"] for row in raw_rows(faers_copy, "DEMO")})
    expected = [row["drug_seq"] for row in raw_rows(faers_copy, "DRUG")
                if row["primaryid"] == pid and row["drug_seq"] != seq]
    assert [d.id for d in reports[pid].drugs] == expected


def test_more_problems_than_allowed_raise(faers_copy: Path) -> None:
    reac = file_of(faers_copy, "REAC")
    for number in (2, 3, 4):
        replace_line(reac, number, "no dollar here")
    seen: list[RowProblem] = []
    with pytest.raises(Invalid, match="more than 2 problems"):
        list(read_faers(faers_copy, keep_going=True, max_problems=2, on_problem=seen.append))
    assert [p.line for p in seen] == [2, 3, 4]


def test_case_without_a_first_received_date_is_a_problem_not_a_crash(
        tmp_path: Path) -> None:
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, merged(
        faers_report("1001", "100", "1", drug="A", term="Nausea", init=""),
        faers_report("2001", "200", "1", drug="B", term="Rash"),
    ))
    with pytest.raises(Invalid) as caught:
        list(read_faers(folder))
    assert caught.value.where == "DEMO17Q2.txt:2"
    assert "init_fda_dt" in caught.value.reason
    seen: list[RowProblem] = []
    reports = list(read_faers(folder, keep_going=True, on_problem=seen.append))
    assert [r.sender_report_id for r in reports] == ["2001"]
    assert [p.where for p in seen] == ["DEMO17Q2.txt:2"]


def test_drug_with_an_unknown_role_is_a_problem(tmp_path: Path) -> None:
    report = faers_report("1001", "100", "1", drug="A", term="Nausea")
    report["DRUG"].append(line(FAERS_HEADERS["DRUG"], primaryid="1001", caseid="100",
                               drug_seq="2", role_cod="XX", drugname="B"))
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, report)
    seen: list[RowProblem] = []
    (case,) = read_faers(folder, keep_going=True, on_problem=seen.append)
    assert [d.product_name for d in case.drugs] == ["A"]
    assert [p.where for p in seen] == ["DRUG17Q2.txt:3"]


# -- joining -------------------------------------------------------------------------

def test_file_out_of_demo_order_is_joined_by_row_position_with_the_same_result(
        faers_copy: Path) -> None:
    expected = list(read_faers(FAERS_2017Q2))
    drug = file_of(faers_copy, "DRUG")
    header, *data = drug.read_text(encoding="latin-1").splitlines()
    drug.write_text("\n".join([header, *reversed(data)]) + "\n", encoding="latin-1")
    reader = FaersReader(faers_copy)
    got = list(reader)
    assert reader.stats.unordered_files == [drug.name]
    # Rows of one report come back in reverse too; compare each case's drugs as a set.
    assert [r.model_copy(update={"drugs": ()}) for r in got] == [
        r.model_copy(update={"drugs": ()}) for r in expected]
    assert [set(r.drugs) for r in got] == [set(r.drugs) for r in expected]


def test_lines_ending_with_a_dollar_read_the_same(faers_copy: Path) -> None:
    # FDA's own files end every line, the header too, with `$`; the samples do not.
    for path in faers_copy.iterdir():
        lines = path.read_text(encoding="latin-1").splitlines()
        path.write_text("".join(f"{text}$\n" for text in lines), encoding="latin-1")
    reader = FaersReader(faers_copy)
    assert list(reader) == list(read_faers(FAERS_2017Q2))
    assert reader.problems == []


def test_bytes_that_are_not_utf8_are_read_as_windows_1252(tmp_path: Path) -> None:
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, faers_report(
        "1001", "100", "1", drug="CAFE", term="Nausea"))
    drug = folder / "DRUG17Q2.txt"
    drug.write_bytes(drug.read_bytes().replace(b"CAFE", b"CAF\xc9") +  # cp1252 É
                     line(FAERS_HEADERS["DRUG"], primaryid="1001", caseid="100",
                          drug_seq="2", role_cod="C", drugname="CAFÉ").encode() + b"\n")
    (case,) = read_faers(folder)
    assert [d.product_name for d in case.drugs] == ["CAFÉ", "CAFÉ"]


def test_progress_reaches_the_total_and_never_goes_back() -> None:
    calls: list[tuple[int, int]] = []
    list(read_faers(needs(FAERS_2017Q2), on_progress=lambda done, total: calls.append(
        (done, total))))
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert calls[-1][0] == calls[-1][1] > 0


# -- mapping of real rows --------------------------------------------------------------

def test_faers_report_maps_field_by_field_from_its_raw_rows() -> None:
    folder = needs(FAERS_2017Q2)
    pid = "111440772"  # many drugs and indications, an outcome, mfr_num and countries
    (demo,) = [r for r in raw_rows(folder, "DEMO") if r["primaryid"] == pid]
    rows = {kind: [r for r in raw_rows(folder, kind) if r["primaryid"] == pid]
            for kind in ("DRUG", "REAC", "OUTC", "RPSR", "INDI", "THER")}
    report = by_key(read_faers(folder))[pid]

    assert report.worldwide_id == f"FAERS-{demo['caseid']}"
    assert report.first_received == date.fromisoformat(_iso(demo["init_fda_dt"]))
    assert report.latest_received == date.fromisoformat(_iso(demo["fda_dt"]))
    assert report.report_type == ("study" if any(r["rpsr_cod"] == "SDY" for r in rows["RPSR"])
                                  else "spontaneous")
    assert report.sender_organisation == demo["mfr_sndr"]
    assert report.other_case_ids == (demo["mfr_num"],)
    assert report.occurrence_country == demo["occr_country"]
    (source,) = report.primary_sources
    assert (source.qualification, source.country) == (OCCUPATIONS[demo["occp_cod"]],
                                                      demo["reporter_country"])
    assert (report.patient.age, report.patient.age_unit, report.patient.sex) == (
        float(demo["age"]), {"YR": "year"}[demo["age_cod"]], SEXES[demo["sex"]])

    assert [r.verbatim for r in report.reactions] == [r["pt"] for r in rows["REAC"]]
    assert all(r.coded is not None and r.coded.term == r.verbatim for r in report.reactions)
    criteria = tuple(sorted(OUTCOMES[r["outc_cod"]] for r in rows["OUTC"]))
    assert {tuple(sorted(r.seriousness.criteria())) for r in report.reactions} == {criteria}

    indications = {r["indi_drug_seq"]: r["indi_pt"] for r in rows["INDI"]}
    assert len(report.drugs) == len(rows["DRUG"])
    for drug, raw in zip(report.drugs, rows["DRUG"], strict=True):
        assert drug.id == raw["drug_seq"]
        assert drug.role == ROLES[raw["role_cod"]]
        assert drug.product_name == raw["drugname"]
        assert drug.substances == tuple(raw["prod_ai"].split("\\"))
        assert drug.route == (None if raw["route"] in ("", "Unknown") else raw["route"])
        assert drug.dose_text == (raw["dose_vbm"] or None)
        assert drug.dose_value == (float(raw["dose_amt"]) if raw["dose_amt"] else None)
        assert drug.dose_unit == (raw["dose_unit"] or None)
        assert drug.dechallenge == CHALLENGES.get(raw["dechal"])
        assert drug.rechallenge == CHALLENGES.get(raw["rechal"])
        assert drug.indication == indications.get(raw["drug_seq"])


def test_aers_report_maps_field_by_field_from_its_raw_rows() -> None:
    folder = needs(AERS_2004Q1)
    isr = "4264028"  # weight in kg, a hospitalisation, a study source, therapy end dates
    (demo,) = [r for r in raw_rows(folder, "DEMO") if r["isr"] == isr]
    rows = {kind: [r for r in raw_rows(folder, kind) if r["isr"] == isr]
            for kind in ("DRUG", "REAC", "OUTC", "RPSR", "INDI", "THER")}
    report = by_key(read_faers(folder))[isr]
    same_case = [r for r in raw_rows(folder, "DEMO") if r["case"] == demo["case"]]

    assert report.worldwide_id == f"FAERS-{demo['case']}"
    assert report.latest_received == date.fromisoformat(_iso(demo["fda_dt"]))
    assert report.first_received == min(date.fromisoformat(_iso(r["fda_dt"]))
                                        for r in same_case)
    assert report.report_type == ("study" if any(r["rpsr_cod"] == "SDY" for r in rows["RPSR"])
                                  else "spontaneous")
    assert report.sender_organisation == demo["mfr_sndr"]
    assert report.other_case_ids == (demo["mfr_num"],)
    (source,) = report.primary_sources
    assert source.qualification == OCCUPATIONS[demo["occp_cod"]]
    assert (report.patient.age, report.patient.sex, report.patient.weight_kg) == (
        float(demo["age"]), SEXES[demo["gndr_cod"]],
        float(demo["wt"]) if demo["wt_cod"] == "KG" else None)

    assert [r.verbatim for r in report.reactions] == [r["pt"] for r in rows["REAC"]]
    assert all(r.start == _iso(demo["event_dt"]) for r in report.reactions)
    criteria = tuple(sorted(OUTCOMES[r["outc_cod"]] for r in rows["OUTC"]))
    assert {tuple(sorted(r.seriousness.criteria())) for r in report.reactions} == {criteria}

    ends = {r["drug_seq"]: _iso(r["end_dt"]) for r in rows["THER"] if r["end_dt"]}
    indications = {r["drug_seq"]: r["indi_pt"] for r in rows["INDI"]}
    for drug, raw in zip(report.drugs, rows["DRUG"], strict=True):
        assert drug.id == raw["drug_seq"]
        assert drug.role == ROLES[raw["role_cod"]]
        assert drug.product_name == raw["drugname"]
        assert drug.dose_text == (raw["dose_vbm"] or None)
        assert drug.dechallenge == CHALLENGES.get(raw["dechal"])
        assert drug.end == ends.get(raw["drug_seq"])
        assert drug.indication == indications.get(raw["drug_seq"])


def test_age_in_days_above_the_model_bound_is_restated_in_a_larger_unit(
        tmp_path: Path) -> None:
    report = faers_report("1001", "100", "1", drug="A", term="Nausea")
    report["DEMO"] = [line(FAERS_HEADERS["DEMO"], primaryid="1001", caseid="100",
                           caseversion="1", init_fda_dt="20170105", fda_dt="20170410",
                           age="400", age_cod="DY")]
    (case,) = read_faers(write_quarter(tmp_path / "q", FAERS_HEADERS, report))
    assert case.patient.age is not None
    assert case.patient.age <= 200
    assert case.patient.age_unit == "week"
    assert case.patient.age_in_years() == pytest.approx(400 / 365.25, rel=1e-4)


def _iso(raw: str) -> str:
    """YYYYMMDD, YYYYMM or YYYY as ISO text."""
    return "-".join(part for part in (raw[:4], raw[4:6], raw[6:8]) if part)
