"""medsafe: medication-safety platform."""

import os

__version__ = "0.1.0"

# NumPy's OpenBLAS wakes a thread per core for every BLAS or LAPACK call. medsafe's only
# such calls are the tiny ones inside SciPy's L-BFGS-B (the signal prior's fit, five
# parameters), where waking and spinning those threads costs far more than the work:
# 0.6 s of a 5 M-row signal run, against 3 ms on one thread. The parallel work (DuckDB,
# the threaded scoring) does not use BLAS. Set before NumPy is first imported; a value
# the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
