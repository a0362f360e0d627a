"""FAERS and legacy AERS quarterly folders as a signal-detection input: which cases count
(latest version across quarters, deleted cases), what the drug, event, date and strata
are, and refusals of what is not a FAERS folder.

Expected values are worked out here from the raw files with the csv module (the shipped
2004Q1 and 2017Q2 samples, and follow-up quarters derived from them), or written into
small quarters by hand; never from medsafe's own readers.
"""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from medsafe.errors import Invalid
from medsafe.signals.counting import PairCounts, count
from medsafe.signals.detection import InputSpec, count_input
from medsafe.signals.duckdb_engine import DuckDBEngine
from medsafe.signals.faers_source import open_faers
from tests.support.shipped import FAERS_SAMPLES
from tests.unit.test_faers_ascii import (
    AERS_HEADERS,
    FAERS_HEADERS,
    line,
    merged,
    needs,
    raw_rows,
    write_quarter,
)

AERS_2004Q1 = FAERS_SAMPLES / "aers_ascii_2004q1" / "ascii"
FAERS_2017Q2 = FAERS_SAMPLES / "faers_ascii_2017q2" / "ascii"

# The columns of each layout (FDA ASC_NTS), and the roles of a suspected drug.
KEYS = {"faers": ("primaryid", "caseid"), "aers": ("isr", "case")}
SEX_COLUMN = {"faers": "sex", "aers": "gndr_cod"}
SUSPECT = {"PS", "SS", "I"}
# ASC_NTS age_cod units in years (a week and a day of the 365.25-day year), and the age
# bands of the strata.
YEARS = {"DEC": 10.0, "YR": 1.0, "MON": 1 / 12, "WK": 7 / 365.25, "DY": 1 / 365.25,
         "HR": 1 / 8766}
BANDS = ((18, "0-17"), (45, "18-44"), (65, "45-64"), (75, "65-74"))

Triple = tuple[str, str, str]


# -- what the raw files say, worked out with the csv module ------------------------------

def latest_reports(folders: Sequence[Path], era: str,
                   deleted: Collection[str] = ()) -> dict[tuple[int, str], dict[str, str]]:
    """(quarter index, report key) -> DEMO row, for the latest version of every case not
    deleted. FAERS: highest caseversion, then latest fda_dt, then highest primaryid;
    AERS: latest fda_dt, then highest isr."""
    key, case = KEYS[era]
    best: dict[str, tuple[tuple[object, ...], int, dict[str, str]]] = {}
    for quarter, folder in enumerate(folders):
        for row in raw_rows(folder, "DEMO"):
            if row[case] in deleted:
                continue
            rank: tuple[object, ...] = (
                (int(row["caseversion"]), row["fda_dt"], int(row[key])) if era == "faers"
                else (row["fda_dt"], int(row[key])))
            if row[case] not in best or rank > best[row[case]][0]:
                best[row[case]] = (rank, quarter, row)
    return {(quarter, row[key]): row for _, quarter, row in best.values()}


def expected_triples(folders: Sequence[Path], era: str, deleted: Collection[str] = (),
                     roles: Collection[str] = SUSPECT) -> set[Triple]:
    key, case = KEYS[era]
    kept = latest_reports(folders, era, deleted)
    drugs: dict[str, set[str]] = defaultdict(set)
    events: dict[str, set[str]] = defaultdict(set)
    for quarter, folder in enumerate(folders):
        for row in raw_rows(folder, "DRUG"):
            demo = kept.get((quarter, row[key]))
            if demo is not None and row["role_cod"] in roles:
                drugs[demo[case]].add((row.get("prod_ai") or row["drugname"]).strip().upper())
        for row in raw_rows(folder, "REAC"):
            demo = kept.get((quarter, row[key]))
            if demo is not None:
                events[demo[case]].add(row["pt"].strip())
    return {(c, d, e) for c in drugs for d in drugs[c] for e in events[c] if d and e}


def age_group(age: str, unit: str) -> str:
    if not age or unit not in YEARS or float(age) < 0:
        return "unknown"
    years = float(age) * YEARS[unit]
    return next((band for limit, band in BANDS if years < limit), "75+")


# -- what the DuckDB source holds --------------------------------------------------------

def source_triples(path: Path, **options: Sequence[str]) -> set[Triple]:
    with DuckDBEngine(threads=1) as engine:
        open_faers(engine, path, **options)
        found = engine.fetch("SELECT DISTINCT report, drug, event FROM source")
    return set(zip(*(map(str, found[c]) for c in ("report", "drug", "event")), strict=True))


def counted(path: Path, strata: Sequence[str] = ()) -> PairCounts:
    with DuckDBEngine(threads=1) as engine:
        open_faers(engine, path, strata)
        return count(engine, len(strata))


def pair_counts(counts: PairCounts) -> dict[tuple[str, str], int]:
    return {(str(d), str(e)): int(n)
            for d, e, n in zip(counts.drug, counts.event, counts.n, strict=True)}


def write_lines(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    body = "".join("$".join(row.get(name, "") for name in header) + "\n" for row in rows)
    path.write_text("$".join(header) + "\n" + body, encoding="latin-1")


def follow_up_quarter(sample: Path, target: Path, era: str) -> Path:
    """A later quarter made from a sample: every report sent again under a new key, with
    its events marked "FU " so the version read is visible, and every other drug row
    dropped. Even-numbered cases get a newer version (FAERS: caseversion + 1; AERS: a later
    fda_dt), odd-numbered ones an older-looking one (FAERS: same caseversion, earlier
    fda_dt; AERS: an earlier fda_dt), so the sample keeps those."""
    shutil.copytree(sample, target)
    key, _ = KEYS[era]
    new_key: dict[str, str] = {}
    for kind in ("DEMO", "DRUG", "REAC"):
        path = next(p for p in target.iterdir() if p.name.upper().startswith(kind))
        header = [name.lower() for name in
                  path.read_text(encoding="latin-1").splitlines()[0].split("$")]
        rows = raw_rows(sample, kind)
        for number, row in enumerate(rows):
            if kind == "DEMO":
                newer = number % 2 == 0
                new_key[row[key]] = str(int(row[key]) + 7)
                if era == "faers" and newer:
                    row["caseversion"] = str(int(row["caseversion"]) + 1)
                row["fda_dt"] = "20990101" if newer else "19990101"
            row[key] = new_key[row[key]]
            if kind == "REAC":
                row["pt"] = "FU " + row["pt"]
        if kind == "DRUG":
            rows = rows[::2]
        write_lines(path, header, rows)
    return target


# -- the shipped samples -----------------------------------------------------------------

@pytest.mark.parametrize(("sample", "era"), [(AERS_2004Q1, "aers"), (FAERS_2017Q2, "faers")])
def test_a_sample_quarter_gives_the_suspect_drug_event_pairs_of_its_cases(
        sample: Path, era: str) -> None:
    expected = expected_triples([needs(sample)], era)
    assert source_triples(sample) == expected
    counts = counted(sample.parent)  # the quarter folder holding ascii/, as FDA unpacks it
    assert pair_counts(counts) == Counter((d, e) for _, d, e in expected)
    assert counts.n_reports == len({case for case, _, _ in expected})


@pytest.mark.parametrize(("sample", "era"), [(AERS_2004Q1, "aers"), (FAERS_2017Q2, "faers")])
def test_a_later_quarter_replaces_only_the_cases_it_holds_a_newer_version_of(
        tmp_path: Path, sample: Path, era: str) -> None:
    first = shutil.copytree(needs(sample), tmp_path / "quarters" / "q1")
    second = follow_up_quarter(sample, tmp_path / "quarters" / "q2", era)
    expected = expected_triples([first, second], era)
    # Both versions of each case are in the folders; the test means something only if
    # each quarter supplies some of the latest ones.
    assert any(e.startswith("FU ") for _, _, e in expected)
    assert any(not e.startswith("FU ") for _, _, e in expected)
    assert source_triples(tmp_path / "quarters") == expected
    counts = counted(tmp_path / "quarters")
    assert counts.n_reports == len({case for case, _, _ in expected})
    assert pair_counts(counts) == Counter((d, e) for _, d, e in expected)


def test_cases_on_a_deleted_list_are_dropped_from_every_quarter(tmp_path: Path) -> None:
    first = shutil.copytree(needs(FAERS_2017Q2), tmp_path / "quarters" / "q1")
    second = follow_up_quarter(FAERS_2017Q2, tmp_path / "quarters" / "q2", "faers")
    cases = [row["caseid"] for row in raw_rows(FAERS_2017Q2, "DEMO")]
    gone = {cases[0], cases[1]}  # the first's latest version is in q2, the second's in q1
    (second / "DELETE17Q2.txt").write_text("\n" + "\n".join(sorted(gone)) + "\n",
                                           encoding="ascii")  # FDA's blank first line
    expected = expected_triples([first, second], "faers", deleted=gone)
    assert gone <= {case for case, _, _ in expected_triples([first, second], "faers")}
    assert source_triples(tmp_path / "quarters") == expected
    assert counted(tmp_path / "quarters").n_reports == len({c for c, _, _ in expected})


@pytest.mark.parametrize(("sample", "era"), [(AERS_2004Q1, "aers"), (FAERS_2017Q2, "faers")])
def test_strata_are_the_sex_age_band_and_year_of_each_case(sample: Path, era: str) -> None:
    case = KEYS[era][1]
    expected = {}
    for row in raw_rows(needs(sample), "DEMO"):
        sex = row[SEX_COLUMN[era]].strip()
        expected[row[case]] = (sex if sex in ("M", "F") else "U",
                               age_group(row["age"], row["age_cod"]), row["fda_dt"][:4])
    with DuckDBEngine(threads=1) as engine:
        open_faers(engine, sample, ["sex", "age_group", "year"])
        found = engine.fetch("SELECT DISTINCT report, stratum_1, stratum_2, stratum_3, "
                             "strftime(received, '%Y%m%d') AS received FROM source")
    rows = list(zip(*(map(str, found[c]) for c in
                      ("report", "stratum_1", "stratum_2", "stratum_3", "received")),
                    strict=True))
    assert len(rows) == len({r[0] for r in rows})  # one set of strata per case
    assert {r[0]: r[1:4] for r in rows} == {c: expected[c] for c, *_ in rows}
    fda = {row[case]: row["fda_dt"] for row in raw_rows(sample, "DEMO")}
    assert {r[0]: r[4] for r in rows} == {c: fda[c] for c, *_ in rows}


def test_both_layouts_read_together_and_through_the_detection_input() -> None:
    expected = (expected_triples([needs(AERS_2004Q1)], "aers")
                | expected_triples([needs(FAERS_2017Q2)], "faers"))
    counts = count_input(InputSpec(FAERS_SAMPLES, "faers", strata=("sex", "year")))
    assert counts.n_reports == len({case for case, _, _ in expected})
    assert pair_counts(counts) == Counter((d, e) for _, d, e in expected)


# -- small quarters written here ---------------------------------------------------------

def faers(pid: str, case: str, version: str, *, drugs: Sequence[tuple[str, str, str]] = (
          ("PS", "Brand", ""),), terms: Sequence[str] = ("Nausea",), fda: str = "20170410",
          **demo: str) -> dict[str, list[str]]:
    """One FAERS report; drugs as (role_cod, drugname, prod_ai)."""
    h = FAERS_HEADERS
    return {
        "DEMO": [line(h["DEMO"], primaryid=pid, caseid=case, caseversion=version,
                      init_fda_dt="20170105", fda_dt=fda, **demo)],
        "DRUG": [line(h["DRUG"], primaryid=pid, caseid=case, drug_seq=str(seq),
                      role_cod=role, drugname=name, prod_ai=ai)
                 for seq, (role, name, ai) in enumerate(drugs, 1)],
        "REAC": [line(h["REAC"], primaryid=pid, caseid=case, pt=term) for term in terms],
    }


def aers(isr: str, case: str, *, drug: str = "BRAND", term: str = "NAUSEA",
         fda: str = "20040110", **demo: str) -> dict[str, list[str]]:
    h = AERS_HEADERS
    return {
        "DEMO": [line(h["DEMO"], isr=isr, case=case, fda_dt=fda, **demo)],
        "DRUG": [line(h["DRUG"], isr=isr, drug_seq="1", role_cod="PS", drugname=drug)],
        "REAC": [line(h["REAC"], isr=isr, pt=term)],
    }


def test_the_highest_caseversion_wins_whichever_quarter_holds_it(tmp_path: Path) -> None:
    write_quarter(tmp_path / "a", FAERS_HEADERS, merged(
        faers("1003", "100", "3", drugs=[("PS", "Third", "")], fda="20170101"),
        faers("2001", "200", "1", drugs=[("PS", "Old", "")])))
    write_quarter(tmp_path / "b", FAERS_HEADERS, merged(
        faers("1002", "100", "2", drugs=[("PS", "Second", "")], fda="20171231"),
        faers("2002", "200", "2", drugs=[("PS", "New", "")])), suffix="17Q3.txt")
    assert source_triples(tmp_path) == {("100", "THIRD", "Nausea"),
                                        ("200", "NEW", "Nausea")}


def test_a_tie_on_caseversion_goes_to_the_later_fda_dt_then_the_higher_primaryid(
        tmp_path: Path) -> None:
    write_quarter(tmp_path / "q", FAERS_HEADERS, merged(
        faers("1009", "100", "2", drugs=[("PS", "Earlier", "")], fda="20170401"),
        faers("1001", "100", "2", drugs=[("PS", "Later", "")], fda="20170402"),
        faers("2001", "200", "1", drugs=[("PS", "Lower", "")]),
        faers("2009", "200", "1", drugs=[("PS", "Higher", "")])))
    assert source_triples(tmp_path / "q") == {("100", "LATER", "Nausea"),
                                              ("200", "HIGHER", "Nausea")}


def test_aers_keeps_the_isr_received_last_and_faers_outranks_aers(tmp_path: Path) -> None:
    # As the case reader chooses: the latest fda_dt, ties to the higher ISR.
    write_quarter(tmp_path / "aers", AERS_HEADERS, merged(
        aers("9001", "500", drug="FIRST", fda="20040110"),
        aers("9000", "500", drug="FOLLOW-UP", fda="20040220"),
        aers("8001", "600", drug="LOWER"), aers("8002", "600", drug="HIGHER"),
        aers("7001", "700", drug="LEGACY")), suffix="04Q1.TXT")
    write_quarter(tmp_path / "faers", FAERS_HEADERS,
                  faers("7000001", "700", "1", drugs=[("PS", "Migrated", "")]))
    assert source_triples(tmp_path) == {("500", "FOLLOW-UP", "NAUSEA"),
                                        ("600", "HIGHER", "NAUSEA"),
                                        ("700", "MIGRATED", "Nausea")}


def test_suspect_and_interacting_drugs_count_and_concomitant_ones_do_not(
        tmp_path: Path) -> None:
    drugs = [("PS", "Primary", ""), ("SS", "Secondary", ""), ("C", "Alongside", ""),
             ("I", "Interacting", "")]
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, faers("1001", "100", "1",
                                                                drugs=drugs))
    assert {d for _, d, _ in source_triples(folder)} == {"PRIMARY", "SECONDARY",
                                                         "INTERACTING"}
    assert {d for _, d, _ in source_triples(folder, drug_roles=["ps"])} == {"PRIMARY"}
    assert {d for _, d, _ in source_triples(folder, drug_roles=["C"])} == {"ALONGSIDE"}
    with pytest.raises(Invalid, match="XX"):
        source_triples(folder, drug_roles=["XX"])


def test_the_drug_is_the_active_ingredient_where_given_else_the_name_upper_cased(
        tmp_path: Path) -> None:
    drugs = [("PS", "Tylenol", "  acetaminophen "), ("SS", " Generic pill ", ""),
             ("SS", '"Quoted', "")]
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, faers(
        "1001", "100", "1", drugs=drugs, terms=(" Headache ", "Rash")))
    assert source_triples(folder) == {
        ("100", drug, event) for drug in ("ACETAMINOPHEN", "GENERIC PILL", '"QUOTED')
        for event in ("Headache", "Rash")}


def test_age_is_converted_to_years_from_its_unit_before_banding(tmp_path: Path) -> None:
    ages = {"100": ("6", "DEC", "45-64"),  # 60 years
            "200": ("800", "MON", "65-74"),  # 66.7 years
            "300": ("30", "DY", "0-17"),
            "400": ("40", "", "unknown"),  # no unit
            "500": ("-3", "YR", "unknown"),
            "600": ("70", "YR", "65-74"),
            "700": ("2000", "WK", "18-44")}  # 38.3 years
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, merged(*(
        faers(f"{case}1", case, "1", age=age, age_cod=unit)
        for case, (age, unit, _) in ages.items())))
    with DuckDBEngine(threads=1) as engine:
        open_faers(engine, folder, ["age_group"])
        found = engine.fetch("SELECT DISTINCT report, stratum_1 FROM source")
    assert dict(zip(map(str, found["report"]), map(str, found["stratum_1"]),
                    strict=True)) == {case: band for case, (_, _, band) in ages.items()}


def test_lines_ending_with_a_dollar_and_bytes_that_are_not_utf8_are_read(
        tmp_path: Path) -> None:
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, faers(
        "1001", "100", "1", drugs=[("PS", "Cafe", "")]))
    for path in folder.iterdir():  # FDA's own files end every line with `$`
        lines = path.read_text(encoding="latin-1").splitlines()
        path.write_text("".join(f"{text}$\n" for text in lines), encoding="latin-1")
    drug = folder / "DRUG17Q2.txt"
    drug.write_bytes(drug.read_bytes().replace(b"Cafe", b"Caf\xe9"))  # Latin-1 é
    assert source_triples(folder) == {("100", "CAFÉ", "Nausea")}


# -- refusals ------------------------------------------------------------------------------

def refusal(path: Path) -> Invalid:
    with pytest.raises(Invalid) as caught:
        counted(path)
    assert caught.value.where == "--input"
    return caught.value


def test_a_path_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo.txt").write_text("primaryid$caseid\n", encoding="ascii")
    assert "not a folder" in refusal(tmp_path / "demo.txt").reason
    assert "not a folder" in refusal(tmp_path / "missing").reason


def test_a_folder_without_a_demo_file_is_not_a_faers_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("hello\n", encoding="ascii")
    reason = refusal(tmp_path).reason
    assert "not a FAERS folder" in reason
    assert "DEMO" in reason


def test_a_quarter_missing_its_drug_file_is_refused(tmp_path: Path) -> None:
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, faers("1001", "100", "1"))
    (folder / "DRUG17Q2.txt").unlink()
    assert "DRUG" in refusal(folder).reason


def test_a_demo_file_of_neither_layout_is_refused(tmp_path: Path) -> None:
    headers = dict(FAERS_HEADERS, DEMO="report$case_number$fda_dt")
    folder = write_quarter(tmp_path / "q", headers, {})
    assert "neither primaryid nor isr" in refusal(folder).reason


@pytest.mark.parametrize(("kind", "column"), [("DEMO", "caseid"), ("DRUG", "role_cod"),
                                              ("REAC", "pt"), ("DRUG", "drugname")])
def test_a_file_missing_a_column_it_needs_is_refused_naming_the_column(
        tmp_path: Path, kind: str, column: str) -> None:
    headers = dict(FAERS_HEADERS)
    headers[kind] = "$".join(name for name in headers[kind].split("$") if name != column)
    folder = write_quarter(tmp_path / "q", headers, {})
    reason = refusal(folder).reason
    assert column in reason
    assert kind in reason


def test_a_row_with_more_fields_than_its_header_is_refused(tmp_path: Path) -> None:
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, faers("1001", "100", "1"))
    reac = folder / "REAC17Q2.txt"
    reac.write_text(reac.read_text(encoding="ascii") + "1001$100$Rash$$extra\n",
                    encoding="ascii")
    assert "Line: 3" in refusal(folder).reason


def test_a_bad_line_in_a_deleted_list_is_refused_naming_it(tmp_path: Path) -> None:
    folder = write_quarter(tmp_path / "q", FAERS_HEADERS, faers("1001", "100", "1"))
    (folder / "DELETE17Q2.txt").write_text("\n100\nnot-a-case\n", encoding="ascii")
    assert "DELETE17Q2.txt:3" in refusal(folder).reason
