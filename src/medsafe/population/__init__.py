"""The deterministic synthetic population the demo and the benchmarks load.

    from medsafe.population import write_population
    summary = write_population(engine, patients=3000, seed=20261126,
                               on_progress=lambda done, total, what: ...)

`generate(patients, seed)` yields the rows without a database; `write_population` loads
them in one transaction with one audit event (generator, seed, counts, SHA-256 digest).
See `generator` for what the population holds and `real_codes` for the real recalled
products it lists.
"""

from medsafe.population.generator import (
    DEFAULT_END,
    DEFAULT_SEED,
    PopulationSpec,
    PopulationSummary,
    ProgressCallback,
    RowBatch,
    analyse,
    digest_of,
    generate,
    write_population,
)

__all__ = [
    "DEFAULT_END",
    "DEFAULT_SEED",
    "PopulationSpec",
    "PopulationSummary",
    "ProgressCallback",
    "RowBatch",
    "analyse",
    "digest_of",
    "generate",
    "write_population",
]
