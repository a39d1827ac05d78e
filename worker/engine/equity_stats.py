"""Equity statistics in one pass over cache-sized blocks of the curve: the fast path
behind every run's and every grid combination's equity metrics (docs/metrics.md, How the
curve is summed). ``metrics.compute_all`` turns them into metric values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker.engine.drawdowns import longest_run, peak_ratio
from worker.engine.moment_kernels import return_values
from worker.engine.peak_kernels import extremes, peak_block
from worker.engine.return_metrics import returns_from_equity

F64 = npt.NDArray[np.float64]


#: Bars per block in ``equity_stats``: a block's temporaries stay in the L2 cache.
STATS_BLOCK = 1 << 16

#: ``block(lo, hi)``: the equity curve's bars ``lo .. hi - 1`` as a float64 array.
EquityBlock = Callable[[int, int], F64]
#: ``observe(lo, r, r2, Σr, Σr²)``: a block's per-bar returns, their squares (read-only) and
#: their sums, block by block in order.
BlockObserver = Callable[[int, F64, F64, float, float], None]


@dataclass(frozen=True)
class EquityStats:
    """What the equity metrics need from the curve (see ``equity_stats``)."""

    bars: int
    final: float
    total: float  # Σ r
    squares: float  # Σ r²
    down: float  # Σ min(r - threshold, 0)²
    min_ratio: float  # min over bars of equity / running peak (initial counts as a peak)
    min_equity: float  # lowest bar-close equity (inf without bars)
    underwater: int  # longest run of bars with equity below the running peak
    dev: float | None = None  # Σ (r - mean)², only when the one-pass variance is unsafe
    threshold: float = 0.0  # per-bar risk-free rate the downside is measured against


def _block_returns(e: F64, prev: float, out: F64) -> F64:
    """Per-bar returns of a block (callers silence division warnings: a zero or negative
    equity gives inf or NaN, which the statistics handle)."""
    np.divide(e[:1], prev, out=out[:1])
    np.divide(e[1:], e[:-1], out=out[1:])
    out -= 1.0
    return out


def one_pass_ok(bars: int, total: float, squares: float) -> bool:
    """Whether the one-pass variance is safe (else ``EquityStats.dev`` is summed)."""
    mean = total / bars
    return bars * mean * mean < 1e-3 * squares


def equity_stats(
    block: EquityBlock,
    bars: int,
    initial: float,
    observe: BlockObserver | None = None,
    *,
    threshold: float = 0.0,
    returns: F64 | None = None,
) -> EquityStats:
    """Equity statistics in one pass over cache-sized blocks, ``block(lo, hi)`` giving the
    curve's bars ``lo .. hi - 1``; each per-bar value is computed as on the whole array,
    and sums are per-block sums added in block order (so any producer of the same curve,
    whole or blockwise, gets the same numbers).

    A block's per-bar returns, their squares and downside are computed in one compiled
    pass and summed by numpy (``moment_kernels.return_values``); its running peak and time
    under water in another (``peak_kernels.peak_block``: in a block without a new high the
    peak is the one carried in, so its worst ratio is its minimum over that peak, correctly
    rounded division being monotone, and it is under water wherever it is below it).
    A non-finite curve falls back to whole-array numpy semantics (and ``observe`` sees
    only the blocks before it).

    ``returns`` (``bars`` long), when given, receives the per-bar returns
    (``return_metrics.returns_from_equity`` of the curve), kept for the run's analysis.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # once, not per block
        return _equity_stats(block, bars, initial, observe, threshold, returns)


def _equity_stats(
    block: EquityBlock,
    bars: int,
    initial: float,
    observe: BlockObserver | None,
    threshold: float,
    returns: F64 | None,
) -> EquityStats:
    step = STATS_BLOCK
    total = squares = down = 0.0
    lowest = math.inf
    peak = prev = float(initial)
    min_ratio = math.inf
    best = run = 0
    buf = np.empty((3, min(step, bars)))
    for lo in range(0, bars, step):
        e = np.ascontiguousarray(block(lo, min(lo + step, bars)), dtype=np.float64)
        m = e.shape[0]
        top, bottom = extremes(e)
        if not (math.isfinite(top) and math.isfinite(bottom)):
            whole = _whole(block, bars)
            if returns is not None:
                returns[:] = returns_from_equity(whole, initial)
            return _array_stats(whole, initial, threshold)
        lowest = min(lowest, bottom)
        r = buf[0, :m] if returns is None else returns[lo : lo + m]
        sq, below = buf[1, :m], buf[2, :m]
        return_values(e, prev, threshold, r, sq, below)
        block_total, block_squares = float(r.sum()), float(sq.sum())
        total += block_total
        squares += block_squares
        if observe is not None:
            observe(lo, r, sq, block_total, block_squares)
        down += float(below.sum())
        prev = float(e[-1])
        peak, min_ratio, run, best = peak_block(e, top, bottom, peak, min_ratio, run, best)
    best = max(best, run)
    dev = None
    if bars >= 2 and math.isfinite(total) and not one_pass_ok(bars, total, squares):
        mean = total / bars
        dev, prev = 0.0, float(initial)
        for lo in range(0, bars, step):
            e = block(lo, min(lo + step, bars))
            r = _block_returns(e, prev, buf[0, : e.shape[0]])
            r -= mean
            dev += float(np.multiply(r, r, out=r).sum())
            prev = float(e[-1])
    final = prev if bars else float(initial)
    return EquityStats(bars, final, total, squares, down, min_ratio, lowest, best, dev, threshold)


def _whole(block: EquityBlock, bars: int) -> F64:
    parts = [block(lo, min(lo + STATS_BLOCK, bars)) for lo in range(0, bars, STATS_BLOCK)]
    out: F64 = np.concatenate(parts) if parts else np.empty(0)
    return out


def _array_stats(equity: F64, initial: float, threshold: float) -> EquityStats:
    """Whole-array statistics (used for curves with non-finite values)."""
    bars = int(equity.shape[0])
    r = returns_from_equity(equity, initial)
    total = float(r.sum())
    squares = float(r @ r)
    dev = None
    if bars >= 2 and math.isfinite(total) and not one_pass_ok(bars, total, squares):
        d = np.subtract(r, total / bars)
        dev = float(d @ d)
    if threshold:
        r -= threshold
    neg = np.minimum(r, 0.0, out=r)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = peak_ratio(equity, initial)
    return EquityStats(
        bars,
        float(equity[-1]) if bars else float(initial),
        total,
        squares,
        float(neg @ neg),
        float(ratio.min()) if bars else math.inf,
        float(equity.min()) if bars else math.inf,
        longest_run(ratio < 1.0),
        dev,
        threshold,
    )


def array_block(equity: F64) -> EquityBlock:
    """``equity_stats`` producer for a whole curve."""

    def block(lo: int, hi: int) -> F64:
        return equity[lo:hi]

    return block
