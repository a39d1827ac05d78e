from worker.engine.strategies.base import Strategy
from worker.engine.strategies.registry import (
    REGISTRY,
    StrategyParams,
    parse_strategy,
    strategy_class,
)

__all__ = ["REGISTRY", "Strategy", "StrategyParams", "parse_strategy", "strategy_class"]
