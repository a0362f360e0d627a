"""Data squashing for the prior fit (DuMouchel's idea, as openEBGM's `autoSquash` does
it; ../shared/reference/signal-detection.md §1), pure.

A large table has hundreds of thousands of cells with N = 1 or 2 that differ only in E.
The likelihood of a cell is smooth in E, so consecutive cells of the same N, sorted by
E, can be replaced by one point at their mean E that counts as many times as the cells
it stands for. openEBGM's defaults:
- only counts N with more than 101 cells are squashed (smaller groups are kept as is);
- in each squashed group the `keep` cells with the largest E stay alone (100 for the
  first squashed N, then 75, 50 and 25), because the likelihood changes fastest there;
- the rest become bins of `bin_size` = max(floor((cells - keep) / points), 2) cells,
  where the number of points grows with the group: fewer than 500 cells -> 50 points,
  500 -> 75, 1e3 -> 150, 1e4 -> 500, 1e5 -> 750, 5e5 -> 1000, 1e6 -> 2000, 5e6 -> 5000;
  the last bin takes the remainder.

The fit reports its log-likelihood on the full, unsquashed data, so squashing can only
move the parameters, never the figure by which a fit is judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
MIN_CELLS = 101
KEEP = (100, 75, 50, 25)
CUTOFFS = (500, 1_000, 10_000, 100_000, 500_000, 1_000_000, 5_000_000)
POINTS = (50, 75, 150, 500, 750, 1_000, 2_000, 5_000)


@dataclass(frozen=True, slots=True)
class Squashed:
    n: Array
    e: Array
    weight: Array

    @property
    def points(self) -> int:
        return int(self.n.size)


def squash(n: Array, e: Array) -> Squashed:
    """The cells (N, E) as weighted points, each group of equal N squashed by E."""
    count = np.asarray(n, dtype=np.float64)
    expect = np.asarray(e, dtype=np.float64)
    order = np.lexsort((expect, count))  # by N, then by E
    count, expect = count[order], expect[order]
    values, starts, sizes = np.unique(count, return_index=True, return_counts=True)
    parts_n: list[Array] = []
    parts_e: list[Array] = []
    parts_w: list[Array] = []
    squashed_groups = 0
    for value, start, size in zip(values, starts, sizes, strict=True):
        group = expect[start:start + size]
        if size <= MIN_CELLS:
            parts_n.append(np.full(size, value))
            parts_e.append(group)
            parts_w.append(np.ones(size))
            continue
        keep = KEEP[min(squashed_groups, len(KEEP) - 1)]
        squashed_groups += 1
        binned, kept = group[:size - keep], group[size - keep:]
        points = POINTS[int(np.searchsorted(CUTOFFS, binned.size, side="right"))]
        bin_size = max(binned.size // points, 2)
        means, weights = _bins(binned, bin_size)
        parts_n.append(np.full(means.size + kept.size, value))
        parts_e.append(np.concatenate([means, kept]))
        parts_w.append(np.concatenate([weights, np.ones(kept.size)]))
    return Squashed(np.concatenate(parts_n), np.concatenate(parts_e),
                    np.concatenate(parts_w))


def _bins(sorted_e: Array, bin_size: int) -> tuple[Array, Array]:
    """Consecutive bins of `bin_size` cells (the last one taking the remainder): their
    mean E and their size."""
    full = sorted_e.size // bin_size
    if full == 0:
        return np.array([sorted_e.mean()]), np.array([float(sorted_e.size)])
    edges = np.arange(full) * bin_size  # the last bin runs to the end
    sums = np.add.reduceat(sorted_e, edges)
    sizes = np.diff(np.append(edges, sorted_e.size)).astype(np.float64)
    return sums / sizes, sizes
