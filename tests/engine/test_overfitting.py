"""Overfitting statistics: golden values from the papers, and the fast paths (sums over
partitions, streamed curve) against plain, independent implementations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from worker.engine import overfitting as of
from worker.engine.api import run_backtest
from worker.engine.equity_stats import equity_stats
from worker.engine.grid_stats import RUN_METRICS, partitions_for
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.period_sums import PeriodSumsRecorder
from worker.engine.portfolio import equity_blocks
from worker.engine.return_metrics import returns_from_equity
from worker.engine.simulate import simulate, sized_fills
from worker.engine.strategies import parse_strategy
from worker.engine.synthetic import generate_bars

SQRT_250 = math.sqrt(250)


def test_deflated_sharpe_ratio_on_the_papers_numeric_example() -> None:
    # Bailey & López de Prado (2014), section "A numerical example": 100 trials whose
    # annualised Sharpe ratios vary by 0.5, the best at 2.5 annualised over 1,250 daily
    # returns with skewness -3 and kurtosis 10: SR0 ≈ 0.1132 per day, DSR ≈ 0.9004.
    sr0 = of.expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    psr = of.probabilistic_sharpe_ratio(2.5 / SQRT_250, sr0, 1250, -3.0, 10.0)
    assert psr == pytest.approx(0.9004, abs=5e-5)


def _mertens_psr(sr: float, bench: float, n: int, skew: float, kurt: float) -> float:
    """Independently: Mertens' (2002) variance of the Sharpe estimator,
    (1 + SR²/2 - γ3 SR + (γ4 - 3)/4 SR²) / (n - 1), and Φ through erfc."""
    var = (1 + sr * sr / 2 - skew * sr + (kurt - 3) / 4 * sr * sr) / (n - 1)
    return 0.5 * math.erfc(-(sr - bench) / math.sqrt(var) / math.sqrt(2))


@pytest.mark.parametrize(
    ("sr", "bench", "n", "skew", "kurt"),
    [(0.1, 0.0, 250, 0.0, 3.0), (0.05, 0.02, 1000, -1.2, 7.5), (-0.03, 0.0, 60, 0.4, 4.0)],
)
def test_probabilistic_sharpe_ratio_matches_mertens_variance(
    sr: float, bench: float, n: int, skew: float, kurt: float
) -> None:
    got = of.probabilistic_sharpe_ratio(sr, bench, n, skew, kurt)
    assert got == pytest.approx(_mertens_psr(sr, bench, n, skew, kurt), abs=1e-12)


def test_probabilistic_sharpe_ratio_edges() -> None:
    assert of.probabilistic_sharpe_ratio(0.1, 0.1, 100, 0.0, 3.0) == pytest.approx(0.5)
    assert of.probabilistic_sharpe_ratio(None, 0.0, 100, 0.0, 3.0) is None
    assert of.probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0) is None
    assert of.probabilistic_sharpe_ratio(0.1, 0.0, 100, None, None) is None
    # more trials raise the bar: the deflated ratio falls as the grid grows
    trials = np.random.default_rng(3).normal(0, 0.05, 1000)
    small = of.deflated_sharpe_ratio(0.12, trials[:10], 500, 0.0, 3.0)
    large = of.deflated_sharpe_ratio(0.12, trials, 500, 0.0, 3.0)
    assert small is not None and large is not None and large < small
    assert of.expected_max_sharpe(1, 0.01) == 0.0


def test_moments_from_sums_match_the_array_moments() -> None:
    r = np.random.default_rng(5).standard_t(4, 5000) * 0.01 + 0.0004
    skew, kurt = of.return_moments(r)
    sums = [float(np.sum(r**k)) for k in range(1, 5)]
    s2, k2 = of.moments_from_sums(r.size, *sums)
    assert s2 == pytest.approx(skew, rel=1e-7) and k2 == pytest.approx(kurt, rel=1e-7)
    assert of.return_moments(np.ones(10)) == (None, None)


def _reference_pbo(returns: np.ndarray, partitions: int) -> float:
    """CSCV written out as in Bailey et al. (2015), section 2, loop by loop."""
    periods, trials = returns.shape
    edges = np.linspace(0, periods, partitions + 1).astype(int)
    blocks = [returns[edges[i] : edges[i + 1]] for i in range(partitions)]
    below = 0
    splits = list(itertools.combinations(range(partitions), partitions // 2))
    for chosen in splits:
        train = np.vstack([blocks[i] for i in chosen])
        test = np.vstack([blocks[i] for i in range(partitions) if i not in chosen])
        is_sr = train.mean(axis=0) / train.std(axis=0, ddof=1)
        oos_sr = test.mean(axis=0) / test.std(axis=0, ddof=1)
        best = int(np.argmax(is_sr))
        rank = 1 + sum(1 for v in oos_sr if v < oos_sr[best])  # no ties in random data
        omega = rank / (trials + 1)
        below += math.log(omega / (1 - omega)) <= 0
    return below / len(splits)


@pytest.mark.parametrize(("trials", "partitions"), [(7, 8), (30, 10), (3, 16)])
def test_pbo_matches_the_reference_cscv(trials: int, partitions: int) -> None:
    rng = np.random.default_rng(trials)
    returns = rng.normal(0.0002, 0.01, (997, trials)) + rng.normal(0, 0.001, trials)
    result = of.pbo_from_returns(returns, partitions)
    assert result is not None
    assert result.splits == math.comb(partitions, partitions // 2)
    assert result.pbo == pytest.approx(_reference_pbo(returns, partitions), abs=1e-12)


def test_pbo_hand_cases() -> None:
    # a trial better in every partition is never overfit; two trials that swap places
    # between halves are always overfit (the in-sample best is the out-of-sample worst)
    good = np.tile([0.02, 0.00], 50)
    bad = np.tile([0.01, -0.01], 50) * 0.5
    dominated = of.pbo_from_returns(np.column_stack([good, bad]), 4)
    assert dominated is not None and dominated.pbo == 0.0
    first = np.concatenate([np.tile([0.02, 0.0], 25), np.tile([-0.02, 0.0], 25)])
    swapped = of.pbo_from_returns(np.column_stack([first, -first]), 2)
    assert swapped is not None and swapped.splits == 2 and swapped.pbo == 1.0
    assert of.pbo_from_returns(good[:, None], 4) is None  # one trial: nothing was selected


def test_pbo_of_pure_noise_is_one_half_on_average() -> None:
    # without skill the in-sample best is a random draw out of sample; one data set's PBO
    # varies widely (its splits share data), the mean over data sets does not
    values = []
    for seed in range(40):
        result = of.pbo_from_returns(np.random.default_rng(seed).normal(0, 0.01, (1000, 50)), 10)
        assert result is not None
        values.append(result.pbo)
    assert 0.4 < float(np.mean(values)) < 0.6


def test_partitions_for_short_curves() -> None:
    assert partitions_for(10_000, 16) == 16
    assert partitions_for(20, 16) == 10
    assert partitions_for(5, 16) == 2
    assert partitions_for(3, 16) == 0


@pytest.mark.parametrize(
    ("n_bars", "partitions"),
    [(200_000, 16), (150_000, 2), (1_000_000, 16), (1_000, 4)],  # many, one, no edge per block
)
def test_recorded_sums_equal_the_whole_curves_sums(n_bars: int, partitions: int) -> None:
    bars = generate_bars(["X"], n_bars, "1m", seed=2)
    md = MarketData.from_frame(bars)
    cfg = RunConfig(commission=0.001, units="fractional")
    strategy = parse_strategy({"kind": "sma_crossover", "fast_period": 20, "slow_period": 90}, {})
    fills = sized_fills(md, strategy.signal(md), cfg, 10_000.0, 1.0)
    recorder = PeriodSumsRecorder(md.n_times, partitions)
    equity_stats(equity_blocks(md, fills, 10_000.0), md.n_times, 10_000.0, recorder)
    sums = recorder.sums()
    equity = simulate(md, strategy.signal(md), cfg, capital=10_000.0, size=1.0, ppy=252).curve
    r = returns_from_equity(equity.equity, 10_000.0)
    edges = of.partition_bounds(md.n_times, partitions)
    assert sums.counts.tolist() == np.diff(edges).tolist()
    for k in range(2):
        expected = np.add.reduceat(r ** (k + 1), edges[:-1])
        assert sums.powers[k] == pytest.approx(expected, rel=1e-9, abs=1e-18)
    assert sums.powers[2, 0] == pytest.approx(float(np.sum(r**3)), rel=1e-9)
    assert sums.powers[3, 0] == pytest.approx(float(np.sum(r**4)), rel=1e-9)


def test_grid_run_reports_overfitting_statistics() -> None:
    bars = generate_bars(["A"], 1500, "1d", seed=1)
    params = {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20}
    grid = {"fast_period": [3, 5, 8, 13], "slow_period": [20, 30, 50]}
    res = run_backtest(bars, params, {"grid": grid}, initial_capital=10_000, timeframe="1d")
    assert res.leaderboard is not None and res.grid_summary is not None
    assert set(RUN_METRICS) <= set(res.metrics)
    top = res.leaderboard.row(0, named=True)
    assert res.metrics["deflated_sharpe_ratio"] == top["deflated_sharpe_ratio"]
    assert res.metrics["probabilistic_sharpe_ratio"] == top["probabilistic_sharpe_ratio"]
    assert top["deflated_sharpe_ratio"] < top["probabilistic_sharpe_ratio"]
    # the per-row statistics from streamed sums equal those of the full curve
    r = returns_from_equity(res.equity["equity"].to_numpy(), 10_000.0)
    skew, kurt = of.return_moments(r)
    sr = of.probabilistic_sharpe_ratio(
        top["sharpe_ratio"] / math.sqrt(252), 0.0, r.size, skew, kurt
    )
    assert top["probabilistic_sharpe_ratio"] == pytest.approx(sr, rel=1e-9)
    trial_sr = np.array(res.leaderboard["sharpe_ratio"].to_list(), dtype=float) / math.sqrt(252)
    dsr = of.deflated_sharpe_ratio(
        top["sharpe_ratio"] / math.sqrt(252), trial_sr, r.size, skew, kurt
    )
    assert top["deflated_sharpe_ratio"] == pytest.approx(dsr, rel=1e-9)
    summary = res.grid_summary["overfitting"]
    assert summary["trials"] == 12 and summary["pbo_splits"] == math.comb(16, 8)
    pbo = res.metrics["pbo"]
    assert pbo is not None and 0.0 <= pbo <= 1.0
    curves = []
    for row in res.leaderboard.iter_rows(named=True):
        combo = {"fast_period": row["fast_period"], "slow_period": row["slow_period"]}
        one = run_backtest(bars, {**params, **combo}, {}, initial_capital=10_000, timeframe="1d")
        assert not set(RUN_METRICS) & set(one.metrics)
        curves.append(returns_from_equity(one.equity["equity"].to_numpy(), 10_000.0))
    whole = of.pbo_from_returns(np.column_stack(curves), 16)
    assert whole is not None and pbo == pytest.approx(whole.pbo, abs=1e-12)


def test_pbo_partitions_validation() -> None:
    with pytest.raises(ValueError, match="even"):
        RunConfig(pbo_partitions=7)
    with pytest.raises(ValueError):
        RunConfig(pbo_partitions=18)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("multiply_adds", [1, 5_000, 10**9])
def test_pbo_does_not_depend_on_passes_or_threads(
    monkeypatch: pytest.MonkeyPatch, threads: int, multiply_adds: int
) -> None:
    rng = np.random.default_rng(8)
    counts = np.full(10, 100.0)
    s1, s2 = rng.normal(0, 0.1, (40, 10)), rng.random((40, 10)) + 1.0
    want = of.pbo_from_sums(counts, s1, s2)
    monkeypatch.setattr(of, "PASS_MULTIPLY_ADDS", multiply_adds)
    got = of.pbo_from_sums(counts, s1, s2, threads=threads)
    assert want is not None and got is not None
    assert got.pbo == want.pbo and got.splits == want.splits == 252
    assert np.array_equal(np.sort(got.logits), np.sort(want.logits))
