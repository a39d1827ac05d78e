"""`python -m worker …` is `backtest-worker …`."""

from worker.cli import main

main()
