"""Counting on Apache Spark (`medsafe[spark]`, `--engine spark`), for tables beyond one
machine: the SQL steps of `medsafe.signals.counting`, run by Spark SQL.

Only long CSV and Parquet tables are read here, with the same column mapping and the
same messages as DuckDB's reader (`medsafe.signals.sources.open_table`); VAERS and FAERS
folders are counted with DuckDB. Results come back through Arrow, column by column,
never as Python rows. pyspark is imported by this module alone, so nothing else needs
the extra."""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import NDArray

from medsafe.errors import Invalid
from medsafe.signals import sources
from medsafe.signals.counting import Columns, PairCounts, count

try:
    from pyspark.errors import PySparkException
    from pyspark.sql import DataFrame, SparkSession
except ModuleNotFoundError as missing:  # the extra is not installed
    raise Invalid("--engine spark needs the spark extra: install medsafe[spark] "
                  "(and Java 17 or later)", where="--engine") from missing

if TYPE_CHECKING:
    from medsafe.signals.detection import InputSpec

MASTER_ENV = "MEDSAFE_SPARK_MASTER"
DEFAULT_MASTER = "local[*]"

# Session settings the counting depends on; set on every session the engine uses, so
# they hold whoever built the session.
SQL_SETTINGS = {
    # Dates are days, and `received <= DATE '...'` must not move with the machine's zone.
    "spark.sql.session.timeZone": "UTC",
    # Fail on bad casts and integer overflow instead of yielding NULL, as DuckDB does.
    "spark.sql.ansi.enabled": "true",
}

SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
LOCAL_PARTITIONS_PER_CORE = 4

# Spark's default log4j profile prints INFO and WARN lines (and progress bars) on
# standard error, where `medsafe signals run` shows its own progress. Errors still show.
QUIET_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
# pyspark's JVM runs as a shell: Spark takes the shell's level from its gateway's
# logger, and announces it at start unless that logger is configured.
logger.shell.name = org.apache.spark.api.python.PythonGatewayServer
logger.shell.level = error
"""

Result = TypeVar("Result")


def spark_session(master: str | None = None) -> SparkSession:
    """The process's Spark session, started on first use. The master is `master`, else
    $MEDSAFE_SPARK_MASTER, else local[*] (every core of this machine); a session that
    is already running is returned as it is."""
    chosen = master or os.environ.get(MASTER_ENV, DEFAULT_MASTER)
    builder = (SparkSession.builder.master(chosen).appName("medsafe")
               .config("spark.ui.showConsoleProgress", "false")
               # The default options, so a user's spark.driver.extraJavaOptions
               # still apply (Spark adds those after these).
               .config("spark.driver.defaultJavaOptions",
                       f"-Dlog4j2.configurationFile=file:{_quiet_logging()}"))
    for key, value in SQL_SETTINGS.items():
        builder = builder.config(key, value)
    if chosen.startswith("local"):
        # One process, no one to watch it: no web UI (and no port to find), and no
        # warning that the host name resolves to the loopback address.
        builder = builder.config("spark.ui.enabled", "false")
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        return builder.getOrCreate()
    except PySparkException as error:
        raise Invalid(f"Spark did not start ({_first_line(error)}); it needs Java 17 or "
                      "later: check `java -version` and JAVA_HOME", where="--engine") from None


class SparkEngine:
    """The `Engine` of `medsafe.signals.counting` on a Spark session; a context manager.

    It works in a session of its own (sharing the SparkContext), so its temporary views
    never meet another engine's, and drops them and their cached data on exit."""

    def __init__(self, session: SparkSession) -> None:
        self.session = session.newSession()
        for key, value in SQL_SETTINGS.items():
            self.session.conf.set(key, value)
        context = session.sparkContext
        if (str(context.master).startswith("local")
                and not context.getConf().contains(SHUFFLE_PARTITIONS)):
            # Spark's default of 200 partitions per shuffle suits a cluster; on one
            # machine every task costs time, and FAERS 2022Q3 counts several times
            # faster with a few per core.
            self.session.conf.set(SHUFFLE_PARTITIONS,
                                  str(LOCAL_PARTITIONS_PER_CORE * context.defaultParallelism))
        self._views: set[str] = set()
        self._cached: dict[str, DataFrame] = {}

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for frame in self._cached.values():
            frame.unpersist()
        for name in self._views:
            self.session.catalog.dropTempView(name)

    def create(self, name: str, sql: str) -> None:
        """A step's result, cached (in memory, spilling to disk) because the later
        steps read it more than once."""
        frame = _spark(lambda: self.session.sql(sql)).cache()
        self._uncache(name)
        self.view(name, frame)
        self._cached[name] = frame

    def view(self, name: str, query: str | DataFrame) -> None:
        """A temporary view, computed whenever it is read (the input)."""
        frame = _spark(lambda: self.session.sql(query)) if isinstance(query, str) else query
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def fetch(self, sql: str) -> Mapping[str, NDArray[np.generic]]:
        table = _spark(lambda: self.session.sql(sql).toArrow())
        return {name: column.to_numpy()
                for name, column in zip(table.column_names, table.columns, strict=True)}

    def _uncache(self, name: str) -> None:
        frame = self._cached.pop(name, None)
        if frame is not None:
            frame.unpersist()


def open_table(engine: SparkEngine, path: Path, columns: Columns,
               given_format: str | None = None) -> None:
    """A long CSV or Parquet table (a file, a folder of files, or a glob) as the view
    `source` (see `medsafe.signals.counting`)."""
    kind = sources.table_format(path, given_format)
    files = [str(p) for p in sources.table_files(path, kind)]
    read = engine.session.read
    raw = _spark(lambda: read.parquet(*files) if kind == "parquet" else
                        # As DuckDB reads CSV: a header, every value text, and a quote
                        # inside a quoted value written twice (RFC 4180).
                        read.csv(files, header=True, inferSchema=False, escape='"',
                                 sep=_delimiter(Path(files[0]))))
    engine.view("raw_input", raw)
    sources.require_columns(path, raw.columns, columns)
    engine.view("source", f"""
        SELECT {sources.source_columns(columns, _identifier)}
        FROM raw_input""")


def count_with_spark(spec: InputSpec, *, until: date | None = None,
                     session: SparkSession | None = None) -> PairCounts:
    """Count a long table on Spark (`session`, else `spark_session()`); the same
    `PairCounts` as DuckDB's `medsafe.signals.detection.count_input`."""
    if spec.format in ("vaers", "faers"):
        raise Invalid(f"{spec.format.upper()} folders are not on Spark yet: count them "
                      "with --engine duckdb, or give Spark a long CSV or Parquet table",
                      where="--input-format")
    with SparkEngine(session or spark_session()) as engine:
        open_table(engine, spec.path, spec.columns,
                   None if spec.format == "table" else spec.format)
        return count(engine, len(spec.columns.strata), until=until)


def _delimiter(first: Path) -> str:
    """The separator of a CSV table, from its header line, as DuckDB sniffs it (Spark
    would take a comma)."""
    opener = gzip.open if first.suffix.lower() == ".gz" else open
    with opener(first, "rt", encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    counts = {mark: header.count(mark) for mark in (",", "\t", "|", ";")}
    best = max(counts, key=lambda mark: counts[mark])
    return best if counts[best] else ","


def _spark(work: Callable[[], Result]) -> Result:
    """Spark's errors (a column that is not there, an unreadable file) as Invalid."""
    try:
        return work()
    except PySparkException as error:
        raise Invalid(_first_line(error), where="--input") from None


def _quiet_logging() -> Path:
    """A log4j2 configuration file with QUIET_LOG4J2, written once per user."""
    path = Path(tempfile.gettempdir()) / f"medsafe-spark-log4j2-{os.getuid()}.properties"
    if not path.exists() or path.read_text(encoding="utf-8") != QUIET_LOG4J2:
        # Written aside and renamed, so a session starting meanwhile never reads half.
        partial = path.with_suffix(f".{os.getpid()}")
        partial.write_text(QUIET_LOG4J2, encoding="utf-8")
        partial.replace(path)
    return path


def _first_line(error: BaseException) -> str:
    """Spark's messages carry a JVM stack trace; the first line says what went wrong."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
