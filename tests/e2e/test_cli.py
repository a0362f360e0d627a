"""The `medsafe` command as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def medsafe(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # A wide terminal so that Rich does not wrap the names the tests look for.
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "medsafe", *args],
        capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=120, check=False,
        env=env,
    )


def test_assess_prints_a_table_of_all_eight_options() -> None:
    result = medsafe("assess", str(EXAMPLES / "ms-spasticity.json"), "--as-of", "2026-11-26")
    assert result.returncode == 0, result.stderr
    for name in ("baclofen", "tizanidine", "dantrolene", "diazepam", "methocarbamol",
                 "cyclobenzaprine", "carisoprodol", "botulinum"):
        assert name in result.stdout.lower()
    assert "recommended" in result.stdout


def test_assess_json_follows_the_documented_shape() -> None:
    result = medsafe("assess", str(EXAMPLES / "ms-on-oxycodone.json"), "--format", "json",
                     "--drug", "baclofen", "--as-of", "2026-11-26")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) >= {"patient", "options"}
    [option] = document["options"]
    assert option["drug"] == "baclofen"
    assert option["rank"] == 1
    assert option["suitability"] in {"recommended", "caution", "avoid", "contraindicated"}
    for finding in option["findings"]:
        assert set(finding) >= {"kind", "severity", "summary", "detail", "with", "source"}
        assert len(finding["summary"]) < 140
    assert option["dose"]["route"] == "oral"


def test_assess_reads_the_bundle_from_stdin() -> None:
    text = (EXAMPLES / "ms-spasticity.json").read_text()
    result = medsafe("assess", "-", "--format", "json", stdin=text)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["options"]) == 8


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("this is not json", "not JSON"),
        ('{"resourceType": "Patient", "id": "x"}', "expected a FHIR Bundle"),
        ('{"resourceType": "Bundle", "type": "collection", "entry": '
         '[{"resource": {"resourceType": "Patient", "gender": 42}}]}', "not valid FHIR R4"),
        ('{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": '
         '{"resourceType": "Observation", "status": "final", "code": {"text": "eGFR"}, '
         '"valueQuantity": {"value": -5}}}]}', "impossible for egfr"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, content: str,
                                               expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = medsafe("assess", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("medsafe: error:")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_a_missing_file_is_a_clear_error() -> None:
    result = medsafe("assess", "no/such/file.json")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_an_unknown_drug_is_named() -> None:
    result = medsafe("assess", str(EXAMPLES / "ms-spasticity.json"), "--drug", "aspirin")
    assert result.returncode == 3
    assert "no ingredient called 'aspirin'" in result.stderr


def test_drugs_list_shows_products_prices_and_categories() -> None:
    result = medsafe("drugs", "list", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert len(rows) == 8
    baclofen_strengths = {s for p in rows["baclofen"]["products"] for s in p["strengths"]}
    assert {"10 mg", "25 mg", "5 mg", "20 mg"} <= baclofen_strengths
    prices = [p["price"] for p in rows["baclofen"]["products"] if p["price"]]
    assert prices[0]["amount"] == "0,51"
    assert prices[0]["currency"] == "not stated"


def test_drugs_show_prints_every_section_with_sources() -> None:
    result = medsafe("drugs", "show", "baclofen")
    assert result.returncode == 0, result.stderr
    for heading in ("Products", "What it treats", "Side effects", "Effects on sleep",
                    "Interactions", "Kidney", "Warnings"):
        assert heading in result.stdout
    assert "FDA label, baclofen tablets" in result.stdout


def test_drugs_show_json_is_the_full_cited_record() -> None:
    result = medsafe("drugs", "show", "Lioresal Intrathecal", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["id"] == "baclofen"
    assert all("source" in effect for effect in document["side_effects"])
