"""peak_kernels equal, bit for bit, the numpy block code of ``equity_stats`` they replaced
(kept here as the reference): new highs, flat stretches at the peak, ratios that round to
1, runs under water across block boundaries, one-bar blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from worker.engine import equity_stats as es
from worker.engine import peak_kernels
from worker.engine.drawdowns import longest_run


def curve(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = 1e4 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    if n > 50:
        out[10:20] = out[9]  # flat at the running peak: not under water
        top = out[:30].max()
        out[30] = np.nextafter(top, 0.0)  # below the peak, its ratio close to 1
        out[31:40] = out[:31].max()
    return out


def numpy_peak_stats(e_all: np.ndarray, initial: float, step: int) -> tuple:
    """(min_ratio, min_equity, underwater) as equity_stats' numpy blocks gave them."""
    peak, min_ratio, lowest, best, run = initial, math.inf, math.inf, 0, 0
    for lo in range(0, e_all.shape[0], step):
        e = e_all[lo : lo + step]
        m = e.shape[0]
        top, bottom = float(e.max()), float(e.min())
        lowest = min(lowest, bottom)
        if top > peak:
            ratio = np.maximum(np.maximum.accumulate(e), peak)
            peak = float(ratio[-1])
            ratio = e / ratio
            min_ratio = min(min_ratio, float(ratio.min()))
            under = ratio < 1.0
        else:
            min_ratio = min(min_ratio, bottom / peak)
            if top < peak:
                run += m
                continue
            under = e < peak
        false = np.flatnonzero(~under)
        if false.shape[0] == 0:
            run += m
            continue
        best = max(best, run + int(false[0]), longest_run(under))
        run = m - 1 - int(false[-1])
    return min_ratio, lowest, max(best, run)


@pytest.mark.parametrize("n", [1, 2, 3, 50, 997, 20_000])
@pytest.mark.parametrize("block", [1, 7, 64, 1 << 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equity_stats_peaks_equal_numpy_blocks(
    monkeypatch: pytest.MonkeyPatch, n: int, block: int, seed: int
) -> None:
    monkeypatch.setattr(es, "STATS_BLOCK", block)
    equity = curve(seed, n)
    for initial in (1e4, float(equity.max()), 1e5):
        got = es.equity_stats(es.array_block(equity), n, initial)
        want = numpy_peak_stats(equity, initial, block)
        assert (got.min_ratio, got.min_equity, got.underwater) == want


@pytest.mark.parametrize("n", [1, 2, 3, 997, 20_000])
@pytest.mark.parametrize("block", [7, 1 << 16])
def test_observer_sees_the_numpy_returns(
    monkeypatch: pytest.MonkeyPatch, n: int, block: int
) -> None:
    """The observer gets each block's returns and squares as numpy computed them."""
    monkeypatch.setattr(es, "STATS_BLOCK", block)
    equity = curve(n, n)
    seen: list[tuple[int, bytes, bytes, float, float]] = []

    def observe(lo: int, r: np.ndarray, sq: np.ndarray, total: float, squares: float) -> None:
        seen.append((lo, r.tobytes(), sq.tobytes(), total, squares))

    es.equity_stats(es.array_block(equity), n, 1e4, observe)
    r = np.empty(n)
    r[0] = equity[0] / 1e4
    r[1:] = equity[1:] / equity[:-1]
    r -= 1.0
    want = []
    for lo in range(0, n, block):
        part = r[lo : lo + block]
        want.append((lo, part.tobytes(), (part * part).tobytes(), part.sum(), (part * part).sum()))
    assert seen == want


@pytest.mark.parametrize("n", [1, 2, 9, 1000])
def test_extremes_equal_numpy(n: int) -> None:
    e = curve(n, n)
    assert peak_kernels.extremes(e) == (e.max(), e.min())
    e[n // 2] = np.nan
    assert all(np.isnan(v) for v in peak_kernels.extremes(e))
    e[n // 2] = np.inf
    assert peak_kernels.extremes(e) == (np.inf, e.min())
