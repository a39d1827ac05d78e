"""bench/engine.py compares speed only when both engines did the same work."""

from __future__ import annotations

from bench.agreement import check_grid, check_single


def trades(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "entry": [3, 7],
        "exit": [7, 9],
        "short": [False, True],
        "units": [1.5, 2.25],
        "final": 10_250.0,
    }
    return {**base, **changes}


def test_the_same_trades_agree() -> None:
    same = check_single(trades(), trades(units=[1.5 * (1 + 1e-13), 2.25]))
    assert same.same and same.text.startswith("2 trades, same entry and exit bars and sides")


def test_any_difference_is_not_the_same_work() -> None:
    assert not check_single(trades(), trades(entry=[3, 7, 9], exit=[7, 9, 9])).same
    assert not check_single(trades(), trades(exit=[8, 9])).same
    assert not check_single(trades(), trades(short=[False, False])).same
    assert not check_single(trades(), trades(units=[1.5, 2.3])).same
    final = check_single(trades(), trades(final=10_251.0))
    assert not final.same and final.text.startswith("NOT the same work")


def test_grid_agreement_on_the_combinations_vectorbt_ran() -> None:
    ours = {"5/60": 0.1, "7/60": -0.2, "9/60": 0.0}
    assert check_grid(ours, {"5/60": 0.1, "7/60": -0.2}).same
    assert not check_grid(ours, {"5/60": 0.1001}).same
    assert not check_grid(ours, {"11/60": 0.1}).same
