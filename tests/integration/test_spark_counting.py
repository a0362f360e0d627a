"""Counting on Spark gives DuckDB's counts: both engines run the one SQL text of
`medsafe.signals.counting`, here on real tables (FAERS 2022Q3, CAERS) and on a small
table written to catch the readers' differences (quoting, dates, blanks)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pytest
from pyarrow import parquet

from medsafe.errors import Invalid
from medsafe.signals.counting import Columns, PairCounts
from medsafe.signals.detection import Detection, InputSpec, count_input, detect_input
from medsafe.signals.score import Scores, score
from medsafe.signals.stats import QUANTILE_TOLERANCE, Prior
from tests.support.caers import CAERS, PUBLISHED_PRIOR, caers_counts
from tests.support.shipped import VAERS_1999
from tests.support.spark import (
    CAERS_BY_SEX,
    FAERS_2022Q3,
    FAERS_COLUMNS,
    needs_caers,
    needs_faers,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The prior openEBGM publishes for CAERS: any fixed prior will do to compare the scores.
PRIOR = Prior(**PUBLISHED_PRIOR)


def count_on_spark(spec: InputSpec, spark: SparkSession, *,
                   until: date | None = None) -> PairCounts:
    from medsafe.signals.spark_engine import count_with_spark

    return count_with_spark(spec, session=spark, until=until)


def assert_same_counts(on_spark: PairCounts, on_duckdb: PairCounts) -> None:
    """The same pairs in the same order, the same integer counts, E to rounding."""
    assert on_spark.n_reports == on_duckdb.n_reports
    assert list(zip(on_spark.drug, on_spark.event, strict=True)) == list(
        zip(on_duckdb.drug, on_duckdb.event, strict=True))
    for name in ("n", "n_drug", "n_event"):
        assert np.array_equal(getattr(on_spark, name), getattr(on_duckdb, name)), name
    np.testing.assert_allclose(on_spark.e, on_duckdb.e, rtol=1e-12, atol=0)


def assert_same_scores(on_spark: Scores, on_duckdb: Scores) -> None:
    """Every column equal; E to rounding, and EB05 and EB95 to the tolerance of the
    search that finds them (with strata E is a sum, added up in another order)."""
    assert list(on_spark.columns) == list(on_duckdb.columns)
    for name, values in on_duckdb.columns.items():
        if values.dtype.kind == "f":
            tolerance = QUANTILE_TOLERANCE if name in ("eb05", "eb95") else 1e-12
            np.testing.assert_allclose(on_spark.columns[name].astype(np.float64),
                                       values.astype(np.float64), rtol=tolerance, atol=0,
                                       err_msg=name)
        else:
            assert np.array_equal(on_spark.columns[name], values), name


@pytest.fixture(scope="module")
def faers_counts(spark: SparkSession) -> tuple[PairCounts, PairCounts]:
    """FAERS 2022Q3 counted by Spark and by DuckDB, once for this file's tests."""
    spec = InputSpec(FAERS_2022Q3, columns=FAERS_COLUMNS)
    return count_on_spark(spec, spark), count_input(spec)


@needs_faers
def test_spark_counts_faers_2022q3_exactly_as_duckdb_does(
        faers_counts: tuple[PairCounts, PairCounts]) -> None:
    on_spark, on_duckdb = faers_counts
    assert len(on_duckdb) > 0
    assert_same_counts(on_spark, on_duckdb)


@needs_faers
def test_faers_2022q3_scored_from_spark_counts_equals_scored_from_duckdb_counts(
        faers_counts: tuple[PairCounts, PairCounts]) -> None:
    on_spark, on_duckdb = faers_counts
    assert_same_scores(score(on_spark, PRIOR), score(on_duckdb, PRIOR))


@pytest.fixture(scope="module")
def caers_runs(spark: SparkSession) -> tuple[Detection, Detection]:
    """CAERS stratified by sex, run through `detect_input` (as `medsafe signals run
    --engine spark` runs, on the session already running) with each engine."""
    spec = InputSpec(CAERS, columns=CAERS_BY_SEX)
    return (detect_input(spec, engine="spark", prior=PRIOR),
            detect_input(spec, engine="duckdb", prior=PRIOR))


@needs_caers
def test_spark_counts_caers_stratified_by_sex_exactly_as_duckdb_does(
        caers_runs: tuple[Detection, Detection]) -> None:
    on_spark, on_duckdb = caers_runs
    assert on_spark.parameters["engine"] == "spark"
    assert_same_counts(on_spark.counts, on_duckdb.counts)
    # Strata change E, never the counts: those are the hand count's.
    by_hand = caers_counts()
    counts = on_spark.counts
    assert counts.n_reports == by_hand.reports
    pairs = zip(counts.drug, counts.event, counts.n, strict=True)
    assert {(drug, event): int(n) for drug, event, n in pairs} == by_hand.by_pair


@needs_caers
def test_caers_stratified_scores_from_spark_equal_scores_from_duckdb(
        caers_runs: tuple[Detection, Detection]) -> None:
    on_spark, on_duckdb = caers_runs
    assert_same_scores(on_spark.scores, on_duckdb.scores)


@pytest.mark.parametrize("separator", [",", "\t"], ids=["comma", "tab"])
def test_both_engines_read_quotes_blanks_repeats_and_dates_alike(
        spark: SparkSession, tmp_path: Path, separator: str) -> None:
    lines = [["report", "drug", "event", "day", "sex"],
             ["1", '"Acetaminophen, 500 mg"', "Rash", "2022-01-05", "F"],
             ["1", '"Acetaminophen, 500 mg"', "Rash", "2022-01-05", "F"],
             ["1", "Ibuprofen", "Rash", "2022-01-05", "F"],
             ["2", '"The ""new"" drug"', "Nausea", "2022-02-10", "M"],
             ["2", "Ibuprofen", "", "2022-02-10", "M"],
             ["3", "Ibuprofen", "Rash", "2022-02-28", ""],
             ["4", "Ibuprofen", "Nausea", "not a date", "M"],
             ["5", "Ibuprofen", "Nausea", "2022-03-01", "M"]]
    table = tmp_path / "reports.csv"
    table.write_text("".join(separator.join(line) + "\n" for line in lines),
                     encoding="utf-8")
    spec = InputSpec(table, "csv", Columns("report", "drug", "event", ("sex",), "day"))
    until = date(2022, 2, 28)
    on_spark = count_on_spark(spec, spark, until=until)
    assert_same_counts(on_spark, count_input(spec, until=until))
    assert set(on_spark.drug) == {"Acetaminophen, 500 mg", "Ibuprofen", 'The "new" drug'}
    assert on_spark.n_reports == 3  # reports 4 (no date) and 5 (March) come later


def test_both_engines_read_a_folder_of_parquet_files_alike(spark: SparkSession,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    rows: dict[str, list[object]] = {"id": [1, 1, 2, 2, 3], "drug": ["A", "B", "A", "A", "C"],
            "event": ["Rash", "Rash", "Nausea", "Rash", "Rash"],
            "age_group": ["18-44", "18-44", "65-74", "65-74", None]}
    for part, (start, stop) in enumerate(((0, 3), (3, 5))):
        parquet.write_table(pa.table({name: values[start:stop]
                                      for name, values in rows.items()}),
                            folder / f"part-{part}.parquet")
    spec = InputSpec(folder, columns=Columns(strata=("age_group",)))
    on_spark = count_on_spark(spec, spark)
    assert_same_counts(on_spark, count_input(spec))
    assert on_spark.n_reports == 3


def test_a_missing_column_is_refused_on_spark_as_on_duckdb(
        spark: SparkSession, tmp_path: Path) -> None:
    table = tmp_path / "reports.csv"
    table.write_text("id,drug,reaction\n1,aspirin,rash\n", encoding="utf-8")
    spec = InputSpec(table, columns=Columns())
    with pytest.raises(Invalid) as on_duckdb:
        count_input(spec)
    with pytest.raises(Invalid) as on_spark:
        count_on_spark(spec, spark)
    assert str(on_spark.value) == str(on_duckdb.value)
    assert on_spark.value.where == "--input"
    assert "no column event" in on_spark.value.reason


def test_a_table_without_rows_is_refused_on_spark(spark: SparkSession,
                                                  tmp_path: Path) -> None:
    table = tmp_path / "reports.csv"
    table.write_text("id,drug,event\n", encoding="utf-8")
    with pytest.raises(Invalid, match="no report with a drug and an event"):
        count_on_spark(InputSpec(table), spark)


def test_a_vaers_folder_is_sent_back_to_duckdb(spark: SparkSession) -> None:
    with pytest.raises(Invalid, match="not on Spark yet") as refused:
        count_on_spark(InputSpec(VAERS_1999, "vaers"), spark)
    assert refused.value.where == "--input-format"
