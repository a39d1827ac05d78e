"""peak_kernels.peak_block equals, bit for bit, the numpy block code of ``equity_stats``
(taken when an observer is given): new highs, flat stretches at the peak, ratios that
round to 1, runs under water across block boundaries, one-bar blocks."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine import equity_stats as es
from worker.engine import peak_kernels


def curve(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = 1e4 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    if n > 50:
        out[10:20] = out[9]  # flat at the running peak: not under water
        top = out[:30].max()
        out[30] = np.nextafter(top, 0.0)  # below the peak, but its ratio rounds to 1
        out[31:40] = out[:31].max()
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 50, 997, 20_000])
@pytest.mark.parametrize("block", [1, 7, 64, 1 << 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equity_stats_without_observer_equal_numpy_blocks(
    monkeypatch: pytest.MonkeyPatch, n: int, block: int, seed: int
) -> None:
    monkeypatch.setattr(es, "STATS_BLOCK", block)
    equity = curve(seed, n)
    for initial in (1e4, equity.max(), 1e5):
        fast = es.equity_stats(es.array_block(equity), n, float(initial))
        slow = es.equity_stats(es.array_block(equity), n, float(initial), lambda *_: None)
        assert fast == slow


@pytest.mark.parametrize("n", [1, 2, 9, 1000])
def test_extremes_equal_numpy(n: int) -> None:
    e = curve(n, n)
    assert peak_kernels.extremes(e) == (e.max(), e.min())
    e[n // 2] = np.nan
    assert all(np.isnan(v) for v in peak_kernels.extremes(e))
    e[n // 2] = np.inf
    assert peak_kernels.extremes(e) == (np.inf, e.min())
