"""The real report files the project ships in data/reports (byte-for-byte copies of
../shared/data, see data/reports/SOURCE.md), so tests that read them run on any clone."""

from __future__ import annotations

from pathlib import Path

REPORTS = Path(__file__).resolve().parents[2] / "data" / "reports"
E2B_EXAMPLES = REPORTS / "e2b-examples"
FAERS_SAMPLES = REPORTS / "faers"  # aers_ascii_2004q1/ and faers_ascii_2017q2/
VAERS_1999 = REPORTS / "vaers-1999"
