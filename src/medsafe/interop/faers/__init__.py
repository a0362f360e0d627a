"""FDA's quarterly ASCII extracts (FAERS and legacy AERS) as CaseReports."""

from medsafe.interop.faers.layout import QuarterFiles, find_quarter
from medsafe.interop.faers.reader import (
    FaersReader,
    ReadStats,
    RowProblem,
    read_deleted_ids,
    read_faers,
)

__all__ = ["FaersReader", "QuarterFiles", "ReadStats", "RowProblem", "find_quarter",
           "read_deleted_ids", "read_faers"]
