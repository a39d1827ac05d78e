"""The run pipeline: what a claimed backtest run goes through, one module per step.

    inputs   read the run's dataset and strategy rows; validate config, options, strategy
    load     verify the dataset file against its hash (once per process) and read the bars
             of the run's symbols and window
    simulate the engine (`worker.engine.api.simulate_run`), off the event loop
    store    render and store the files; the outcome (metrics, artifact rows, events)
    runner   the handler that strings them together (`worker.pipeline.runner:execute_run`)

The queue then turns the outcome into the run's final state and writes it.
"""
