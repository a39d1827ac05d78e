"""bench/engine.py's backtesting.py figure: ``Backtest(...).run()`` once on the single run's
bars and SMA(10/30) crossover (its ``optimize()`` is extrapolated by the driver)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def work_bt_single(
    path: str,
    config: dict[str, Any],
    baseline_mb: Callable[[], float],
    peak_mb: Callable[[], float],
) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd
    import polars as pl
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    df = pl.read_parquet(path).to_pandas()
    df = df.rename(columns={c: c.capitalize() for c in ("open", "high", "low", "close", "volume")})
    df = df.set_index("timestamp")[["Open", "High", "Low", "Close", "Volume"]]
    df.index = df.index.tz_localize(None)

    def sma(x: Any, n: int) -> Any:
        return pd.Series(x).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):  # type: ignore[misc]
        n1, n2 = 10, 30

        def init(self) -> None:
            self.ma1 = self.I(sma, self.data.Close, self.n1)
            self.ma2 = self.I(sma, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.ma1, self.ma2):
                self.position.close()
                self.buy()
            elif crossover(self.ma2, self.ma1):
                self.position.close()
                self.sell()

    base = baseline_mb()
    t = time.perf_counter()
    stats = Backtest(
        df, SmaCross, cash=10_000_000, commission=config["commission"], finalize_trades=True
    ).run()
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "peak_mb": peak_mb() - base, "trades": int(stats["# Trades"])}
