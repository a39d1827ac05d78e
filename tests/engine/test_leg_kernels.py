"""leg_kernels and bar_kernels equal, bit for bit, the numpy expressions they replaced
(kept here as the references): random positions and times, empty and one-row blocks."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine.bar_kernels import increasing_in_blocks, positive_finite
from worker.engine.leg_kernels import change_rows

LENGTHS = [[1], [2], [5], [1, 7, 1], [300], [3, 1, 40], [1000, 2000]]


def blocks(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    return ends - np.asarray(lengths, dtype=np.int64), ends


def numpy_change_rows(d: np.ndarray, starts: np.ndarray) -> np.ndarray:
    prev = np.empty_like(d)
    prev[0] = 0
    prev[1:] = d[:-1]
    prev[starts] = 0
    return np.flatnonzero(d != prev)


def numpy_sorted(ts: np.ndarray, starts: np.ndarray) -> bool:
    if ts.shape[0] < 2:
        return True
    step = ts[1:] > ts[:-1]
    step[starts[1:] - 1] = True
    return bool(step.all())


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("seed", range(4))
def test_change_rows_equal_numpy(lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts, ends = blocks(lengths)
    n = int(ends[-1])
    d = rng.integers(-1, 2, n).astype(np.int8)
    d[rng.random(n) < 0.5] = 1  # runs
    out = np.empty(n, dtype=np.int64)
    got = out[: change_rows(d, starts, out)]
    assert got.tolist() == numpy_change_rows(d, starts).tolist()


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("seed", range(6))
def test_increasing_in_blocks_equals_numpy(lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts, ends = blocks(lengths)
    n = int(ends[-1])
    ts = np.concatenate([np.cumsum(rng.integers(1, 3, k)) for k in lengths]).astype(np.int64)
    if seed % 3 and n > 1:  # a repeat or a step back somewhere
        i = int(rng.integers(1, n))
        ts[i] = ts[i - 1] - (seed % 2)
    assert increasing_in_blocks(ts, starts, ends) == numpy_sorted(ts, starts)


@pytest.mark.parametrize("n", [0, 1, 2, 9, 1000])
@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0])
def test_positive_finite_equals_numpy(n: int, special: float | None) -> None:
    x = np.random.default_rng(n).random(n) + 0.5
    if special is not None and n:
        x[n // 2] = special
    want = not n or bool(x.min() > 0 and x.max() < np.inf)
    assert positive_finite(x) == want
