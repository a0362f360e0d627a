"""The default counting engine: an in-process DuckDB database.

DuckDB reads CSV and Parquet itself, streaming and on every core, and spills to disk
when a table does not fit in `memory_limit`, so tables larger than memory are counted out
of core. Nothing is downloaded at run time (no extensions are loaded)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from medsafe.errors import Invalid

DEFAULT_MEMORY_LIMIT = "4GB"  # DuckDB spills beyond it; the whole process stays under 8


class DuckDBEngine:
    """One DuckDB connection; a context manager."""

    def __init__(self, *, memory_limit: str | None = None, threads: int | None = None,
                 spill_folder: str | None = None) -> None:
        self.connection = duckdb.connect(config={
            "memory_limit": memory_limit or os.environ.get("MEDSAFE_DUCKDB_MEMORY",
                                                           DEFAULT_MEMORY_LIMIT),
            "threads": threads or os.cpu_count() or 1,
            "temp_directory": spill_folder or os.path.join(tempfile.gettempdir(),
                                                           "medsafe-duckdb-spill"),
            # The counts do not depend on row order; letting DuckDB drop it saves memory.
            "preserve_insertion_order": False,
        })

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.connection.close()

    def execute(self, sql: str) -> None:
        try:
            self.connection.execute(sql)
        except duckdb.Error as error:
            raise Invalid(_first_line(error), where="--input") from None

    def create(self, name: str, sql: str) -> None:
        self.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def fetch(self, sql: str) -> Mapping[str, NDArray[np.generic]]:
        """The result's columns as NumPy arrays; text columns as object arrays in which
        equal values are one Python string (millions of pairs name a few thousand drugs
        and events: one string object each instead of one per pair)."""
        try:
            relation = self.connection.sql(sql)
            if relation is None:
                raise Invalid(f"the statement returned no rows: {sql[:60]}", where="--input")
            table = relation.to_arrow_table()
        except duckdb.Error as error:
            raise Invalid(_first_line(error), where="--input") from None
        return {name: _numpy(table.column(name)) for name in table.column_names}

    def columns(self, relation: str) -> list[str]:
        """The column names of a relation, e.g. a file just opened as a view."""
        return [str(row[0]) for row in self.connection.execute(
            f"DESCRIBE {relation}").fetchall()]


def _numpy(column: pa.ChunkedArray[Any]) -> NDArray[np.generic]:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = column.combine_chunks().dictionary_encode()
        names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        return np.asarray(names[codes], dtype=object)
    return np.asarray(column.to_numpy())


def _first_line(error: Exception) -> str:
    """DuckDB's message without its long tail of parser options and hints: the lines
    that say what went wrong and where (for CSV: the file, the line, the column count)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    kept = [line for line in lines[:4] if not line.lower().startswith(
        ("possible fixes", "* ", "parser options", "llm", "line "))
        and set(line) != {"^"}]  # nor the SQL it was running, underlined
    return "; ".join(kept) or type(error).__name__
