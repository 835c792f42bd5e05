"""The trending fan-out of a region: the shared one in podium.replication.trending_live (the global
tier serves `trendingChanged` through the same code, and may not import region modules)."""

from __future__ import annotations

from podium.replication.trending_live import Dims, TrendingFanOut, TrendingUpdate

__all__ = ["Dims", "TrendingFanOut", "TrendingUpdate"]
