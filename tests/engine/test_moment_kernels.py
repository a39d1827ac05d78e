"""moment_kernels compute, bit for bit, the per-bar values the numpy code they replaced
computed (kept here as the references), so numpy's sums of them are the same: random
curves, empty and one bar, NaN, inf, zeros and negative zeros."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine import moment_kernels as mk
from worker.engine.benchmark_metrics import MOMENT_BLOCK, centred_moments

LENGTHS = [0, 1, 2, 7, 8, 9, 129, 1000, 65_537, 131_072]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def numpy_returns(e: np.ndarray, prev: float) -> np.ndarray:
    r = np.empty(e.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(e[:1], prev, out=r[:1])
        np.divide(e[1:], e[:-1], out=r[1:])
    r -= 1.0
    return r


def curve(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1e4 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("threshold", [0.0, 1e-6])
@pytest.mark.parametrize("special", [None, np.nan, np.inf, 0.0, -0.0, -5.0])
def test_return_values_equal_numpy(n: int, threshold: float, special: float | None) -> None:
    e = curve(n, n)
    if special is not None and n:
        e[n // 2] = special
    r, sq, down = np.empty(n), np.empty(n), np.empty(n)
    mk.return_values(e, 9_999.0, threshold, r, sq, down)
    want = numpy_returns(e, 9_999.0)
    assert same(r, want) and same(sq, want * want)
    if threshold:
        want -= threshold
    below = np.minimum(want, 0.0)
    assert same(down, below * below)
    out = np.empty(n)
    mk.curve_returns(e, 9_999.0, out)
    assert same(out, numpy_returns(e, 9_999.0))


def numpy_centred_moments(
    r: np.ndarray, b: np.ndarray, mr: float, mb: float, block: int = MOMENT_BLOCK
) -> tuple:
    srr = sbb = srb = 0.0
    for lo in range(0, r.shape[0], block):
        dr = r[lo : lo + block] - mr
        db = b[lo : lo + block] - mb
        srr += float((dr * dr).sum())
        sbb += float((db * db).sum())
        srb += float((dr * db).sum())
    return srr, sbb, srb


@pytest.mark.parametrize("n", [0, 1, 1000, 2 * 65_536 + 5])
def test_centred_moments_equal_blockwise_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    r, b = rng.normal(0, 1e-3, n), rng.normal(0, 1e-3, n)
    mr, mb = (float(r.mean()), float(b.mean())) if n else (0.0, 0.0)
    got = np.array(centred_moments(r, b, mr, mb))
    assert same(got, np.array(numpy_centred_moments(r, b, mr, mb), dtype=np.float64))


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("block", [1, 8, 100, 128, 4096, MOMENT_BLOCK])
def test_centred_sums_equal_blockwise_numpy(n: int, block: int) -> None:
    rng = np.random.default_rng(n + block)
    x, y = rng.normal(0, 1, n), rng.normal(0, 1, n)
    if n > 2:
        x[n // 2], y[1] = -0.0, np.inf
    got = np.array(mk.centred_sums(x, y, 0.25, 0.0, block))
    assert same(got, np.array(numpy_centred_moments(x, y, 0.25, 0.0, block), dtype=np.float64))
    if n:
        x[n - 1] = np.nan
        got = np.array(mk.centred_sums(x, y, 0.25, 0.0, block))
        want = np.array(numpy_centred_moments(x, y, 0.25, 0.0, block), dtype=np.float64)
        assert same(got, want)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("block", [1, 8, 100, 4096, MOMENT_BLOCK])
@pytest.mark.parametrize("special", [None, np.nan, np.inf, 0.0, -0.0, -5.0])
def test_curve_centred_sums_equal_centred_sums_of_the_returns(
    n: int, block: int, special: float | None
) -> None:
    e, v = curve(n, n), curve(n + 1, n)
    if special is not None and n:
        e[n // 2], v[n - 1] = special, special
    r, b = numpy_returns(e, 9_999.0), numpy_returns(v, 10_000.0)
    got = np.array(mk.curve_centred_sums(e, 9_999.0, v, 10_000.0, 1e-5, -2e-6, block))
    assert same(got, np.array(mk.centred_sums(r, b, 1e-5, -2e-6, block)))
