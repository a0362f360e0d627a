"""Scoring every pair: in slices on several threads, written slice by slice, and never a
half-written table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from numpy.typing import NDArray

from medsafe.errors import Invalid
from medsafe.signals.counting import PairCounts
from medsafe.signals.score import COLUMNS, ScoresWriter, Thresholds, score, write_scores
from medsafe.signals.stats import Prior

PRIOR = Prior(alpha1=0.2, beta1=0.1, alpha2=2.0, beta2=4.0, p=0.3)


def pair_counts(pairs: int, seed: int = 3) -> PairCounts:
    """A table of `pairs` pairs with FAERS-like counts: mostly 1, a long tail."""
    rng = np.random.default_rng(seed)
    n = np.minimum(rng.zipf(1.8, pairs), 5_000).astype(np.float64)
    n_drug = n + rng.integers(0, 3_000, pairs)
    n_event = n + rng.integers(0, 3_000, pairs)
    reports = 200_000
    return PairCounts(drug=np.array([f"drug {i // 7}" for i in range(pairs)], dtype=object),
                      event=np.array([f"event {i % 7}" for i in range(pairs)], dtype=object),
                      n=n, e=n_drug * n_event / reports, n_drug=n_drug, n_event=n_event,
                      n_reports=reports)


def test_scoring_in_slices_on_threads_gives_the_numbers_of_one_pass() -> None:
    counts = pair_counts(10_000)
    whole = score(counts, PRIOR, workers=1)
    sliced = score(counts, PRIOR, workers=2, slice_size=999)
    assert list(sliced.columns) == list(COLUMNS)
    for name in COLUMNS:
        assert np.array_equal(whole.columns[name], sliced.columns[name],
                              equal_nan=whole.columns[name].dtype.kind == "f"), name
    assert int(whole.columns["signal"].sum()) > 0


def test_each_scored_slice_reaches_the_writer_in_order(tmp_path: Path) -> None:
    counts = pair_counts(5_000)
    seen: list[int] = []
    out = tmp_path / "scores.parquet"
    with ScoresWriter(out) as writer:
        def sink(columns: Mapping[str, NDArray[np.generic]]) -> None:
            seen.append(len(columns["n"]))
            writer.write(columns)

        scores = score(counts, PRIOR, workers=2, slice_size=1_200, on_slice=sink)
    assert seen == [1_200, 1_200, 1_200, 1_200, 200]
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert table.num_rows == 5_000
    assert table["drug"].to_pylist() == list(counts.drug)
    assert np.array_equal(table["eb05"].to_numpy(), scores.columns["eb05"])


def test_csv_output_leaves_limits_that_cannot_be_formed_empty(tmp_path: Path) -> None:
    counts = pair_counts(50)
    scores = score(counts, PRIOR, Thresholds())
    out = tmp_path / "scores.csv"
    write_scores(scores, out)
    table = pa_csv.read_csv(out)
    assert table.column_names == list(COLUMNS)
    assert table.num_rows == 50
    text = out.read_text()
    assert "nan" not in text.lower()


def test_a_failed_run_leaves_no_table_and_keeps_the_old_one(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"the previous run's table")
    counts = pair_counts(3_000)
    with pytest.raises(RuntimeError, match="fit failed"), ScoresWriter(out) as writer:  # noqa: PT012
        score(counts, PRIOR, workers=2, slice_size=1_000, on_slice=writer.write)
        raise RuntimeError("fit failed half-way")
    assert out.read_bytes() == b"the previous run's table"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_a_table_with_no_pairs_is_still_a_table_with_every_column(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    with ScoresWriter(out):
        pass
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert table.num_rows == 0


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    columns = score(pair_counts(10), PRIOR).columns
    with pytest.raises(Invalid, match="cannot be written"), ScoresWriter(
            tmp_path / "no such folder" / "scores.parquet") as writer:
        writer.write(columns)
    with pytest.raises(Invalid, match=r"write \.csv or \.parquet"):
        ScoresWriter(tmp_path / "scores.xlsx")
