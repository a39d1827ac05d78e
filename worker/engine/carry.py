"""Costs of carry: interest on negative cash, borrow fees on shorts, funding on positions.

Rates are annual (``cash_interest_rate``, ``borrow_rate``, ``funding_rate`` in the run
config). Day count: Actual/365 on the bar timestamps, so the interval between two bars
costs ``rate · (elapsed microseconds / (365 · 86,400 · 10⁶))`` (a weekend between a Friday
and a Monday bar is three days). Carry for the interval from bar t−1's close to bar t is
computed on the account as it stood at bar t−1's close (after every fill and liquidation of
t−1) and charged at the start of bar t, before its fills:

* interest: ``cash_interest_rate · max(−cash, 0)`` (only a debit balance bears interest),
* borrow: ``borrow_rate · Σ |units · close|`` over short positions,
* funding: ``funding_rate · Σ units · close`` over all positions, signed: with a positive
  rate longs pay and shorts receive (a perpetual swap's funding as one constant rate).

A position opened and closed within one bar pays no carry. Charges accrue and are posted to
cash at every fill and at the first bar of each calendar month (UTC), as brokers accrue daily
and post monthly: interest is charged on the posted balance, so it compounds at postings.
Equity counts accrued charges at once. After ruin interest on the debt goes on.

Between two postings the holdings are constant, so the accrual is a prefix-sum difference:
``years`` (the cumulative year fraction per bar) and ``marks`` (the cumulative
``year fraction · previous close`` per symbol).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worker.engine.indicators import cached
from worker.engine.market import F64, I64, MarketData
from worker.engine.ordered_dot import ordered_dot
from worker.engine.params import RunConfig

#: Microseconds in the Actual/365 day count's year.
YEAR_US = 365 * 86_400 * 1_000_000

CARRY_METRICS = ("carry_paid", "interest_paid", "borrow_paid", "funding_paid")


@dataclass(frozen=True, eq=False)
class Carry:
    interest: float
    borrow: float
    funding: float
    years: F64  # per timeline bar, Σ year fractions of the intervals up to it (0 at bar 0)
    marks: F64  # timeline x symbol: Σ year fraction · previous last close, up to each bar
    months: I64  # timeline bars (> 0) that open a calendar month, ascending

    @classmethod
    def of(cls, md: MarketData, cfg: RunConfig) -> Carry | None:
        """None when every rate is 0 (the default): no carry is computed at all."""
        if not (cfg.cash_interest_rate or cfg.borrow_rate or cfg.funding_rate):
            return None
        ts = md.grid_ts
        years = cached(
            md, ("carry_years",), lambda: np.cumsum(np.diff(ts, prepend=ts[:1]) / YEAR_US)
        )
        marks = cached(md, ("carry_marks",), lambda: _prefix_marks(md, years))
        months = cached(md, ("carry_months",), lambda: _month_starts(ts)).astype(np.int64)
        return cls(cfg.cash_interest_rate, cfg.borrow_rate, cfg.funding_rate, years, marks, months)

    def weights(self, held: F64) -> F64:
        """Per symbol, the carry rate on one unit's close value, for signed units ``held``."""
        out: F64 = self.funding * held + self.borrow * np.maximum(-held, 0.0)
        return out

    def accrue(self, t0: int, t1: int, cash: float, w: F64, posts: Posts | None) -> float:
        """Posted cash at bar t1 (after its carry, before its fills) from posted ``cash`` at
        bar t0's close with constant holdings of weights ``w``; month starts in (t0, t1]
        post on the way and are recorded in ``posts`` (None: a tentative look)."""
        if t1 <= t0:
            return cash
        lo = int(np.searchsorted(self.months, t0, side="right"))
        hi = int(np.searchsorted(self.months, t1, side="right"))
        t1_posts = hi > lo and int(self.months[hi - 1]) == t1
        a = t0
        for m in [*self.months[lo:hi].tolist(), t1]:
            if m == a:
                continue
            cost = float(ordered_dot(self.marks[m] - self.marks[a], w))
            if cash < 0:
                cost -= self.interest * cash * (self.years[m] - self.years[a])
            cash -= cost
            if posts is not None and (m != t1 or t1_posts):
                posts.month_t.append(m)
                posts.month_cash.append(cash)
            a = m
        return cash


def _prefix_marks(md: MarketData, years: F64) -> F64:
    """Timeline x symbol: Σ over bars up to t of (year fraction) x (previous last close)."""
    close_w = md.marks[0]
    prev = np.zeros_like(close_w)
    prev[1:] = close_w[:-1]
    out: F64 = np.cumsum(np.diff(years, prepend=0.0)[:, None] * prev, axis=0)
    return out


def _month_starts(ts: I64) -> F64:
    """The bars that open a calendar month (UTC), as floats for the indicator cache."""
    month = ts.astype("datetime64[us]").astype("datetime64[M]")
    out: F64 = (np.flatnonzero(month[1:] != month[:-1]) + 1).astype(np.float64)
    return out


@dataclass(eq=False)
class Posts:
    """Where carry was posted by the sizing loop: month starts (with the posted cash) and
    the executed fill events (indices into the loop's events; a skipped entry posts
    nothing, and its cash is not a posted balance)."""

    carry: Carry
    month_t: list[int] = field(default_factory=list)
    month_cash: list[float] = field(default_factory=list)
    fill_e: list[int] = field(default_factory=list)

    def close(self, t_end: int, t0: int, cash: float, w: F64) -> None:
        """Record the month postings after the last fill (holdings ``w`` from ``t0``)."""
        months = self.carry.months
        hi = int(np.searchsorted(months, t_end, side="right"))
        if hi and months[hi - 1] > t0:
            self.carry.accrue(t0, int(months[hi - 1]), cash, w, self)


@dataclass(frozen=True, eq=False)
class Carried:
    """The cash curve with carry, and what was paid (``CARRY_METRICS`` order)."""

    cash: F64
    paid: tuple[float, float, float, float]


def carried_cash(
    posts: Posts, ev_t: I64, ev_cash: F64, capital: float, value: F64, short: F64
) -> Carried:
    """Bar-close cash from the fill events and month postings: the posted balance minus the
    charges accrued since the last posting. ``value``: signed position value per bar,
    ``short``: Σ |short value| per bar (both at closes)."""
    carry = posts.carry
    t_n = value.shape[0]
    m_t = np.array(posts.month_t, dtype=np.int64)
    done = np.array(posts.fill_e, dtype=np.int64)
    fill_t = ev_t[done]
    t_all = np.concatenate([m_t, fill_t])
    cash_all = np.concatenate([np.array(posts.month_cash), ev_cash[done]])
    order = np.argsort(t_all, kind="stable")  # a month start posts before that bar's fills
    starts = np.concatenate([[0], t_all[order]])
    lengths = np.diff(np.append(starts, t_n))
    base = np.repeat(np.concatenate([[capital], cash_all[order]]), lengths)
    frac = np.diff(carry.years, prepend=0.0)
    interest = np.zeros(t_n)
    borrow = np.zeros(t_n)
    funding = np.zeros(t_n)
    interest[1:] = frac[1:] * carry.interest * np.maximum(-base[:-1], 0.0)
    borrow[1:] = frac[1:] * carry.borrow * short[:-1]
    funding[1:] = frac[1:] * carry.funding * value[:-1]
    paid = np.cumsum(interest + borrow + funding)
    posted_at = np.unique(t_all)
    settled = np.zeros(t_n)
    if posted_at.shape[0]:
        last = np.searchsorted(posted_at, np.arange(t_n), side="right") - 1
        settled = np.where(last >= 0, paid[posted_at[np.maximum(last, 0)]], 0.0)
    cash: F64 = base - (paid - settled)
    total = float(paid[-1]) if t_n else 0.0
    return Carried(cash, (total, float(interest.sum()), float(borrow.sum()), float(funding.sum())))
