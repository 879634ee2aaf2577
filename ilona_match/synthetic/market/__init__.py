"""The market world family: hiring by thresholds and competition, another logging policy, records
written as people write them (see ``world.py``). The engine never imports it."""

from __future__ import annotations

from ilona_match.synthetic.market.world import (
    MarketConfig,
    MarketSummary,
    generate_market_world,
    market_truth,
)

__all__ = ["MarketConfig", "MarketSummary", "generate_market_world", "market_truth"]
