"""signal_kernels equal, bit for bit, the numpy expressions they replaced (kept here as
the references): random prices, empty and one-row blocks, ties and NaN."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine import signal_kernels as sk

F64 = np.ndarray


def blocks(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    return ends - np.asarray(lengths, dtype=np.int64), ends


def numpy_cumsum(x: F64, starts: np.ndarray, ends: np.ndarray) -> F64:
    out = np.empty(x.shape[0])
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        if hi == lo:
            continue
        block = np.subtract(x[lo:hi], x[lo], out=out[lo:hi])
        np.cumsum(block, out=block)
    return out


def numpy_sma(x: F64, csum: F64, period: int, starts: np.ndarray, ends: np.ndarray) -> F64:
    out = np.empty(x.shape[0])
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        out[lo : min(lo + period - 1, hi)] = np.nan
        if hi - lo < period:
            continue
        window = out[lo + period - 1 : hi]
        window[0] = csum[lo + period - 1]
        np.subtract(csum[lo + period : hi], csum[lo : hi - period], out=window[1:])
        window /= period
        window += x[lo]
    return out


def numpy_cross(a: F64, b: F64, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    n = a.shape[0]
    cmp = (np.greater(a, b).view(np.int8) - np.less(a, b).view(np.int8)).astype(np.int8)
    step = np.bitwise_and(np.subtract(cmp[1:], cmp[:-1]), 3)
    rows = np.flatnonzero(step == 2) + 1
    rows = rows[~np.isin(rows, starts)]
    marks = np.concatenate([starts, rows])
    values = np.concatenate([np.zeros(starts.shape[0], dtype=np.int8), cmp[rows]])
    order = np.argsort(marks, kind="stable")
    marks, values = marks[order], values[order]
    return np.repeat(values, np.diff(marks, append=n))


LENGTHS = [[0], [1], [2], [5], [1, 7, 1], [300], [3, 0, 40], [1000, 2000]]


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cumsum_and_sma_equal_numpy(lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts, ends = blocks(lengths)
    n = int(ends[-1])
    x = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    got = np.empty(n)
    sk.rebased_cumsum(x, starts, ends, got)
    want = numpy_cumsum(x, starts, ends)
    assert got.tobytes() == want.tobytes()
    for period in (1, 2, 3, 10, 301):
        out = np.empty(n)
        sk.sma_window(x, want, period, starts, ends, out)
        ref = numpy_sma(x, want, period, starts, ends)
        assert np.array_equal(out, ref, equal_nan=True)
        assert out[~np.isnan(ref)].tobytes() == ref[~np.isnan(ref)].tobytes()


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cross_position_equals_numpy(lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts, ends = blocks([x for x in lengths if x] or [0])
    n = int(ends[-1])
    a = rng.integers(0, 3, n).astype(np.float64)  # many ties
    b = rng.integers(0, 3, n).astype(np.float64)
    a[rng.random(n) < 0.1] = np.nan
    b[: rng.integers(0, n + 1)] = np.nan
    got = np.empty(n, dtype=np.int8)
    sk.cross_position(a, b, starts, ends, got)
    want = numpy_cross(a, b, starts, ends) if n else np.empty(0, dtype=np.int8)
    assert got.dtype == want.dtype and (got == want).all()


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sma_cross_position_equals_two_averages_crossed(lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts, ends = blocks(lengths)
    n = int(ends[-1])
    x = np.round(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 1)  # ties of averages
    csum = numpy_cumsum(x, starts, ends)
    for fast, slow in ((1, 2), (2, 3), (3, 10), (10, 30), (5, 301), (30, 10), (4, 4)):
        a, b = np.empty(n), np.empty(n)
        sk.sma_window(x, csum, fast, starts, ends, a)
        sk.sma_window(x, csum, slow, starts, ends, b)
        want = np.empty(n, dtype=np.int8)
        sk.cross_position(a, b, starts, ends, want)
        got = np.full(n, 7, dtype=np.int8)
        sk.sma_cross_position(x, csum, fast, slow, starts, ends, got)
        assert got.tobytes() == want.tobytes(), (fast, slow)
