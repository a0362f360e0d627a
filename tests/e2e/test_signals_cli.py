"""`medsafe signals run` as a user runs it, on the real CAERS table openEBGM publishes
its example on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from medsafe.signals.counting import Columns
from medsafe.signals.detection import InputSpec, count_input
from medsafe.signals.prior import log_likelihood
from medsafe.signals.score import COLUMNS
from medsafe.signals.stats import Prior
from tests.e2e.test_cli import medsafe
from tests.support.caers import CAERS, PUBLISHED_PRIOR
from tests.support.shipped import FAERS_SAMPLES
from tests.support.shipped import VAERS_1999 as VAERS

PUBLISHED = PUBLISHED_PRIOR
needs_caers = pytest.mark.skipif(not CAERS.exists(),
                                 reason="needs ../shared/data/caers-openebgm/caers.csv")
CAERS_COLUMNS = ("--id-col", "id", "--drug-col", "var1", "--event-col", "var2")


def rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {(r["drug"], r["event"]): r for r in csv.DictReader(handle)}


@needs_caers
def test_with_openebgms_prior_the_published_example_comes_out(tmp_path: Path) -> None:
    prior = tmp_path / "prior.json"
    prior.write_text(json.dumps(PUBLISHED), encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = medsafe("signals", "run", "--input", str(CAERS), *CAERS_COLUMNS,
                     "--prior-in", str(prior), "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(COLUMNS)
    table = rows(out)
    assert len(table) == 17_189
    row = table["REUMOFAN PLUS", "WEIGHT INCREASED"]
    assert row["n"] == "16"
    assert float(row["e"]) == pytest.approx(0.406436, abs=1e-6)
    assert float(row["ebgm"]) == pytest.approx(23.26, abs=0.01)
    assert float(row["eb05"]) == pytest.approx(15.68, abs=0.01)
    assert float(row["eb95"]) == pytest.approx(33.48, abs=0.01)
    assert row["signal"] == "true"
    assert "EB05" in row["signal_by"]


@needs_caers
def test_the_fitted_prior_is_written_and_beats_the_published_one(tmp_path: Path) -> None:
    out, prior_out = tmp_path / "scores.csv", tmp_path / "prior.json"
    result = medsafe("signals", "run", "--input", str(CAERS), *CAERS_COLUMNS,
                     "--out", str(out), "--prior-out", str(prior_out))
    assert result.returncode == 0, result.stderr
    fitted = json.loads(prior_out.read_text(encoding="utf-8"))
    assert fitted["converged"] is True
    counts = count_input(InputSpec(CAERS, "table", Columns("id", "var1", "var2")))
    published = log_likelihood(Prior(**PUBLISHED), counts.n, counts.e)
    assert fitted["loglik"] >= published - 1e-9
    assert "log-likelihood" in result.stderr


@needs_caers
def test_a_missing_column_is_a_clear_error_and_exit_code_2(tmp_path: Path) -> None:
    result = medsafe("signals", "run", "--input", str(CAERS), "--out",
                     str(tmp_path / "x.csv"))
    assert result.returncode == 2
    assert "no column drug, event" in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_vaers_1999_ranks_rotavirus_vaccine_and_intussusception_first(tmp_path: Path) -> None:
    """RotaShield (VAX_TYPE RV) was withdrawn in October 1999 for intussusception; both
    peers rank this pair first by EB05 (reference notes §7)."""
    out = tmp_path / "vaers.csv"
    result = medsafe("signals", "run", "--input", str(VAERS), "--input-format", "vaers",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = list(rows(out).values())
    best = max(table, key=lambda row: float(row["eb05"]))
    assert (best["drug"], best["event"]) == ("RV", "Intussusception")
    assert best["signal"] == "true"


def test_vaers_trend_shows_when_rotavirus_and_intussusception_was_first_flagged(
        tmp_path: Path) -> None:
    out = tmp_path / "trend.csv"
    result = medsafe("signals", "trend", "--input", str(VAERS), "--drug", "RV", "--event",
                     "Intussusception", "--by", "month", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        periods = list(csv.DictReader(handle))
    assert [p["period"] for p in periods] == [f"1999-{m:02d}" for m in range(1, 13)]
    counts = [int(p["n"]) for p in periods]
    assert counts == sorted(counts)  # cumulative
    first = next(p["period"] for p in periods if p["signal"] == "true")
    assert f"first flagged in {first}" in result.stderr
    assert first < "1999-10"  # before RotaShield's withdrawal in October 1999


@pytest.mark.parametrize(("content", "name", "says"), [
    (b"id,drug,event\n", "empty.csv", "no report with a drug and an event"),
    (b"\x00\x01 not parquet", "broken.parquet", "broken.parquet"),
])
def test_empty_or_unreadable_input_is_exit_code_2_and_writes_nothing(
        tmp_path: Path, content: bytes, name: str, says: str) -> None:
    source, out = tmp_path / name, tmp_path / "scores.csv"
    source.write_bytes(content)
    result = medsafe("signals", "run", "--input", str(source), "--out", str(out))
    assert result.returncode == 2
    assert says in result.stderr  # what is wrong, or which file
    assert "LINE 1" not in result.stderr  # not the SQL that ran
    assert not out.exists()


def test_a_faers_folder_is_scored_into_parquet_with_every_column(tmp_path: Path) -> None:
    """The shipped quarterly samples (AERS 2004Q1 and FAERS 2017Q2), found as FAERS by
    their DEMO files, stratified by sex; Parquet out, the prior beside it."""
    import pyarrow.parquet as pq

    out, prior = tmp_path / "faers.parquet", tmp_path / "prior.json"
    result = medsafe("signals", "run", "--input", str(FAERS_SAMPLES), "--strata", "sex",
                     "--out", str(out), "--prior-out", str(prior))
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert table.num_rows > 100
    fitted = json.loads(prior.read_text(encoding="utf-8"))
    assert fitted["converged"] is True
    assert set(fitted) >= {"alpha1", "beta1", "alpha2", "beta2", "p", "loglik", "converged"}


def test_stricter_thresholds_flag_fewer_pairs(tmp_path: Path) -> None:
    def candidates(*options: str) -> int:
        out = tmp_path / "vaers.csv"
        result = medsafe("signals", "run", "--input", str(VAERS), "--out", str(out),
                         *options)
        assert result.returncode == 0, result.stderr
        return sum(1 for row in rows(out).values() if row["signal"] == "true")

    default, strict = candidates(), candidates("--eb05", "8", "--ic025", "3", "--prr", "8")
    assert 0 < strict < default
