"""The global tier: merges every region's top-K and serves world ranks with tiered precision."""
