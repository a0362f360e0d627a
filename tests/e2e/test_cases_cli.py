"""`medsafe cases import-faers|import-vaers|list|show` as a user runs them, on the real
FAERS and VAERS samples shipped in data/reports: counts, idempotent re-imports,
all-or-nothing on a malformed file, and --keep-going."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.test_cli import medsafe

# The real files the project ships (data/reports/SOURCE.md), so these run on any clone.
REPORTS = Path(__file__).resolve().parents[2] / "data" / "reports"
FAERS = REPORTS / "faers" / "faers_ascii_2017q2"
AERS = REPORTS / "faers" / "aers_ascii_2004q1"
VAERS = REPORTS / "vaers-1999"


def cases_in(data_dir: Path) -> int:
    if not (data_dir / "medsafe.sqlite3").exists():
        return 0
    engine = create_engine(f"sqlite:///{data_dir / 'medsafe.sqlite3'}")
    with engine.connect() as connection:
        count = int(connection.execute(text("SELECT count(*) FROM cases")).scalar_one())
    engine.dispose()
    return count


def distinct_case_ids(demo: Path, column: str) -> int:
    lines = demo.read_text(encoding="latin-1").splitlines()
    position = lines[0].lower().split("$").index(column)
    return len({line.split("$")[position] for line in lines[1:] if line})


def test_faers_quarter_imports_once_and_a_second_import_adds_nothing(tmp_path: Path) -> None:
    first = medsafe("cases", "import-faers", str(FAERS), "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    expected = distinct_case_ids(next((FAERS / "ascii").glob("DEMO*")), "caseid")
    assert f"{expected:,} new cases" in first.stdout
    again = medsafe("cases", "import-faers", str(FAERS), "--data-dir", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert f"0 new cases, 0 follow-ups, 0 nullified, {expected:,} already held" in again.stdout
    assert cases_in(tmp_path) == expected


def test_legacy_aers_and_vaers_import_into_the_external_queue(tmp_path: Path) -> None:
    assert medsafe("cases", "import-faers", str(AERS), "--data-dir",
                   str(tmp_path)).returncode == 0
    vaers = medsafe("cases", "import-vaers", str(VAERS), "--data-dir", str(tmp_path))
    assert vaers.returncode == 0, vaers.stderr
    assert "12,249 new cases" in vaers.stdout
    listed = medsafe("cases", "list", "--queue", "external", "--limit", "5", "--data-dir",
                     str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert f"({cases_in(tmp_path):,})" in listed.stdout
    shown = medsafe("cases", "show", "VAERS-117862", "--data-dir", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "Guillain-Barre syndrome" in shown.stdout


def test_malformed_row_fails_the_whole_file_unless_keep_going(tmp_path: Path) -> None:
    quarter = tmp_path / "quarter"
    shutil.copytree(FAERS, quarter)
    reac = next((quarter / "ascii").glob("REAC*"))
    reac.chmod(0o644)
    with reac.open("a", encoding="latin-1") as handle:
        handle.write("not$enough\n")
    failed = medsafe("cases", "import-faers", str(quarter), "--data-dir", str(tmp_path / "a"))
    assert failed.returncode != 0
    assert "REAC" in failed.stderr
    assert cases_in(tmp_path / "a") == 0  # nothing stored
    kept = medsafe("cases", "import-faers", str(quarter), "--keep-going", "--data-dir",
                   str(tmp_path / "b"))
    assert kept.returncode == 0, kept.stderr
    assert "1 malformed rows skipped" in kept.stderr
    assert cases_in(tmp_path / "b") > 0


def test_e2b_files_import_with_acknowledgements_and_list_in_a_line_listing(
        tmp_path: Path) -> None:
    files = sorted(str(p) for p in (REPORTS / "e2b-examples").glob("FAERS2022Scenario*.xml"))
    imported = medsafe("cases", "import-e2b", *files, "--ack-dir", str(tmp_path / "acks"),
                       "--data-dir", str(tmp_path))
    assert imported.returncode == 0, imported.stderr
    assert "1 new cases" in imported.stdout
    assert len(list((tmp_path / "acks").glob("*.ack"))) == 3
    listing = medsafe("cases", "line-listing", "--from", "2022-01-01", "--to", "2022-12-31",
                      "--data-dir", str(tmp_path))
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.startswith("case_id,worldwide_id,version")
    assert len(rows) == 1
    assert ",US-APHARMA-8744554B,3," in rows[0]  # one case, its third version
    exported = medsafe("cases", "export-e2b", "US-APHARMA-8744554B", "--data-dir",
                       str(tmp_path))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("<?xml")
    assert "US-APHARMA-8744554B" in exported.stdout
