"""curve_kernels equal, bit for bit, the numpy expressions they replaced (kept here as the
references): random curves, empty and one-bar curves, several events on one bar, ties at
the trough, NaN."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine import curve_kernels as ck
from worker.engine import drawdowns as dd

F64 = np.ndarray


def numpy_single_equity(
    ev_t: np.ndarray, ev_cash: F64, ev_pos: F64, capital: float, close: F64
) -> tuple[F64, F64, F64]:
    starts = np.concatenate([[0], ev_t])
    lengths = np.diff(np.append(starts, close.shape[0]))
    cash = np.repeat(np.concatenate([[capital], ev_cash]), lengths)
    value = np.repeat(np.concatenate([[0.0], ev_pos]), lengths)
    value *= close
    return cash + value, cash, value


def numpy_periods(dd_curve: F64) -> tuple[np.ndarray, np.ndarray, F64, np.ndarray]:
    n = dd_curve.shape[0]
    under = (dd_curve < 0).view(np.int8)
    edges = np.flatnonzero(np.diff(under, prepend=np.int8(0), append=np.int8(0)))
    starts, ends = edges[0::2], edges[1::2]
    if starts.shape[0] == 0:
        return starts, ends, np.empty(0), starts
    depths = np.minimum.reduceat(dd_curve, starts)
    pairs = zip(starts.tolist(), ends.tolist(), strict=True)
    lows = np.array([lo + int(np.argmin(dd_curve[lo:hi])) for lo, hi in pairs])
    assert ends[-1] <= n
    return starts, ends, depths, lows


def same(a: F64, b: F64) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("n", [0, 1, 2, 7, 500])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_equity_equals_numpy(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    events = int(rng.integers(0, 2 * n + 3))
    ev_t = np.sort(rng.integers(0, max(n, 1), events)).astype(np.int64)  # repeats: same bar
    ev_cash = rng.normal(1000.0, 300.0, events)
    ev_pos = np.where(np.arange(events) % 2 == 0, rng.normal(0, 5.0, events), 0.0)
    if events:
        ev_pos[0] = -0.0
    capital = 1000.0
    out = [np.empty(n) for _ in range(3)]
    ck.single_equity(ev_t, ev_cash, ev_pos, capital, close, *out)
    if n == 0:
        return
    want = numpy_single_equity(ev_t, ev_cash, ev_pos, capital, close)
    for got, ref in zip(out, want, strict=True):
        assert same(got, ref)


def curves(seed: int, n: int) -> F64:
    rng = np.random.default_rng(seed)
    out = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    if n > 10:
        out[3:6] = out[2]  # flat: at the peak, not under
        out[n // 2] = out[n // 2 - 1] = out[: n // 2].min() * 0.5  # tie at the trough
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 11, 1000, 70_000])
@pytest.mark.parametrize("seed", [0, 1])
def test_drawdown_curve_equals_peak_ratio(n: int, seed: int) -> None:
    equity = curves(seed, n)
    for initial in (50.0, 100.0, 1e9):
        want = dd.peak_ratio(equity, initial)
        want -= 1.0
        assert same(dd.drawdown_curve(equity, initial), want)


def test_drawdown_curve_with_nan_takes_numpy() -> None:
    equity = curves(0, 100)
    equity[40] = np.nan
    want = dd._scanned_peak_ratio(equity, 100.0) - 1.0
    assert np.array_equal(dd.drawdown_curve(equity, 100.0), want, equal_nan=True)


@pytest.mark.parametrize("n", [0, 1, 2, 11, 1000, 255, 256, 257, 5_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("nan", [False, True])
@pytest.mark.parametrize("vol", [0.02, 0.001])
def test_drawdown_periods_equal_numpy(n: int, seed: int, nan: bool, vol: float) -> None:
    rng = np.random.default_rng(seed)
    equity = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))  # long runs under water
    if n > 600:
        equity[300:520] = equity[:300].max() * 2  # a long stretch at the peak
        equity[700] = equity[701] = equity[:700].min() * 0.5  # tie at the trough
        equity[2000:2300] = equity[:2000].min() * 0.25  # a flat trough: ties over a stretch
    curve = dd.drawdown_curve(equity if vol < 0.01 else curves(seed, n), 100.0)
    if nan and n:
        curve[rng.random(n) < (0.05 if vol > 0.01 else 0.0005)] = np.nan
    starts, ends, depths, lows = numpy_periods(curve)
    table = dd.drawdown_table(np.arange(n, dtype=np.int64) * 60_000_000, curve)
    assert table.start.tolist() == starts.tolist() and table.end.tolist() == ends.tolist()
    assert np.array_equal(table.depth, depths, equal_nan=True)
    assert table.lows.tolist() == lows.tolist()
    assert [table.trough(i) for i in range(table.count)] == lows.tolist()


@pytest.mark.parametrize("n", [1, 2, 9, 1000])
@pytest.mark.parametrize("absolute", [True, False])
def test_exposure_and_growth_equal_numpy(n: int, absolute: bool) -> None:
    rng = np.random.default_rng(n)
    value, equity = rng.normal(0, 100.0, n), rng.normal(50.0, 100.0, n)
    value[0], equity[-1] = -0.0, 0.0  # a negative zero, a division by zero
    got = np.empty(n)
    assert ck.exposure_ratio(value, equity, absolute, got) == bool(equity.min() > 0)
    assert ck.exposure_ratio(value, np.abs(equity) + 1.0, absolute, np.empty(n))
    with_nan = np.abs(equity) + 1.0
    with_nan[n // 2] = np.nan
    assert not ck.exposure_ratio(value, with_nan, absolute, np.empty(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        want = (np.abs(value) if absolute else value) / equity
    assert np.array_equal(got, want, equal_nan=True) and same(got[:-1], want[:-1])
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    ck.scaled_growth(close, 1e4, got)
    want = np.divide(close, close[0])
    want *= 1e4
    assert same(got, want)
