"""sum_kernels equal, bit for bit, the numpy sums they replaced (kept here as the
references): every length around numpy's leaf and halving sizes, empty and one value,
NaN, inf, zeros and negative zeros."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine import sum_kernels as sk
from worker.engine.benchmark_metrics import (
    MOMENT_BLOCK,
    benchmark_stats,
    centred_moments,
    curve_benchmark_stats,
)
from worker.engine.equity_stats import array_block, equity_stats
from worker.engine.return_metrics import returns_from_equity

LENGTHS = [*range(0, 20), 127, 128, 129, 136, 255, 256, 257, 1000, 4099, 65_536, 65_537]


def values(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, n) * 10.0 ** rng.integers(-8, 8, n)


def same(got: tuple[float, ...], want: tuple[float, ...]) -> bool:
    return np.array(got).tobytes() == np.array(want, dtype=np.float64).tobytes()


def numpy_return_sums(e: np.ndarray, prev: float, threshold: float) -> tuple[float, ...]:
    r = np.empty(e.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(e[:1], prev, out=r[:1])
        np.divide(e[1:], e[:-1], out=r[1:])
    r -= 1.0
    total, squares = float(r.sum()), float((r * r).sum())
    if threshold:
        r -= threshold
    m = np.minimum(r, 0.0)
    return total, squares, float((m * m).sum())


def numpy_centred(x: np.ndarray, y: np.ndarray, mx: float, my: float) -> tuple[float, ...]:
    dx, dy = x - mx, y - my
    return float((dx * dx).sum()), float((dy * dy).sum()), float((dx * dy).sum())


@pytest.mark.parametrize("n", LENGTHS)
def test_leaf_and_pairwise_sums_equal_numpy(n: int) -> None:
    x, y = values(n, n), values(n + 1, n)
    got = sk.block_sums(sk.CENTRED, x, y, 0.0, 0.25, -3.0, 0, n)
    assert same(got, numpy_centred(x, y, 0.25, -3.0))
    lo = n // 3
    got = sk.block_sums(sk.CENTRED, x, y, 0.0, 0.0, 0.0, lo, n)
    assert same(got, numpy_centred(x[lo:], y[lo:], 0.0, 0.0))


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("threshold", [0.0, 1e-6])
def test_return_sums_equal_numpy(n: int, threshold: float) -> None:
    e = 1000.0 * np.exp(np.cumsum(values(n, n) * 1e-9))
    got = sk.block_sums(sk.RETURN_SUMS, e, e, 999.0, threshold, 0.0, 0, n)
    assert same(got, numpy_return_sums(e, 999.0, threshold))


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf, 0.0, -0.0])
def test_special_values_sum_as_numpy(special: float) -> None:
    for n in (1, 9, 300):
        x = values(3, n)
        x[n // 2] = special
        e = np.abs(x)
        e[n // 2] = special  # a zero or negative-zero equity: inf and NaN returns
        with np.errstate(all="ignore"):
            assert same(
                sk.block_sums(sk.CENTRED, x, x, 0.0, 0.0, 0.0, 0, n), numpy_centred(x, x, 0.0, 0.0)
            )
            got = sk.block_sums(sk.RETURN_SUMS, e, e, 1.0, 0.0, 0.0, 0, n)
        assert np.array_equal(
            np.array(got), np.array(numpy_return_sums(e, 1.0, 0.0)), equal_nan=True
        )


def numpy_centred_moments(r: np.ndarray, b: np.ndarray, mr: float, mb: float) -> tuple[float, ...]:
    srr = sbb = srb = 0.0
    for lo in range(0, r.shape[0], MOMENT_BLOCK):
        a = numpy_centred(r[lo : lo + MOMENT_BLOCK], b[lo : lo + MOMENT_BLOCK], mr, mb)
        srr, sbb, srb = srr + a[0], sbb + a[1], srb + a[2]
    return srr, sbb, srb


@pytest.mark.parametrize("n", [0, 1, 1000, 2 * 65_536 + 5])
def test_centred_moments_equal_blockwise_numpy(n: int) -> None:
    r, b = values(7, n) * 1e-9, values(8, n) * 1e-9
    mr, mb = (float(r.mean()), float(b.mean())) if n else (0.0, 0.0)
    assert same(centred_moments(r, b, mr, mb), numpy_centred_moments(r, b, mr, mb))


@pytest.mark.parametrize("n", [1, 2, 100, 65_536, 3 * 65_536 + 17])
@pytest.mark.parametrize("threshold", [0.0, 2e-7])
def test_equity_stats_equal_the_numpy_blocks(n: int, threshold: float) -> None:
    """Without an observer the block sums are the kernel's; with one, numpy's: the same."""
    equity = 1e4 * np.exp(np.cumsum(np.random.default_rng(n).normal(0, 1e-3, n)))
    seen: list[int] = []
    fast = equity_stats(array_block(equity), n, 1e4, threshold=threshold)
    slow = equity_stats(
        array_block(equity), n, 1e4, lambda lo, *_: seen.append(lo), threshold=threshold
    )
    assert seen and fast == slow


@pytest.mark.parametrize("n", [2, 3, 129, 1000, 2 * 65_536 + 5])
@pytest.mark.parametrize("special", [None, np.nan, 0.0, np.inf])
def test_curve_benchmark_stats_equal_the_returns_path(n: int, special: float | None) -> None:
    """From the curves (returns summed as they are computed) or from the returns arrays:
    the same numbers; a curve whose returns have a NaN mean is left to the returns path."""
    rng = np.random.default_rng(n)
    equity = 1e4 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    bench = 1e4 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    if special is not None:
        equity[n // 2] = special
    with np.errstate(all="ignore"):
        r, b = returns_from_equity(equity, 1e4), returns_from_equity(bench, 1e4)
        got = curve_benchmark_stats(equity, bench, 1e4, 252.0, 0.02)
        want = benchmark_stats(r, b, 252.0, 0.02)
    if got is None:
        assert np.isnan(r.mean())
        return
    assert got == want
