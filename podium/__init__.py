"""Podium: a multi-region, real-time leaderboard engine for games.

`podium` is the shared kernel (model, ranking rule, config, errors, clock, CLI);
`podium.region`, `podium.global_` and `podium.replication` are the tiers.
"""

__version__ = "0.1.0"
