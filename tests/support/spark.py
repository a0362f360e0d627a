"""One local Spark session for the tests, and the real tables they count on it.

Spark needs the spark extra and Java: without either the Spark tests are skipped, and
under CI=true they fail instead, so CI never passes without having run them."""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import TYPE_CHECKING

import pytest

from medsafe.signals.counting import Columns
from tests.support.caers import CAERS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FAERS_2022Q3 = CAERS.parents[1] / "faers" / "pvlrt" / "faers22q3raw.csv"
FAERS_COLUMNS = Columns("CASEID", "DRUG", "AE")
CAERS_BY_SEX = Columns("id", "var1", "var2", ("strat1",))

needs_faers = pytest.mark.skipif(not FAERS_2022Q3.exists(),
                                 reason="needs ../shared/data/faers/pvlrt/faers22q3raw.csv")
needs_caers = pytest.mark.skipif(not CAERS.exists(),
                                 reason="needs ../shared/data/caers-openebgm/caers.csv")


def missing_for_spark() -> str | None:
    """What this machine lacks to run Spark, if anything."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (uv sync --extra spark)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java on PATH or in JAVA_HOME (Spark needs Java 17 or later)"
    return None


def local_spark() -> SparkSession:
    """A Spark session on two local cores, as the tests share it."""
    missing = missing_for_spark()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: under CI=true the Spark tests must run")
        pytest.skip(missing)
    from medsafe.signals.spark_engine import spark_session

    return spark_session("local[2]")
