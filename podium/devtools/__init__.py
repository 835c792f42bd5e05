"""Tooling above the tiers: the local stack, demo, bench harness, deploy checks and test servers.

Nothing in the runtime (kernel core, region, global, replication) imports this package.
"""
