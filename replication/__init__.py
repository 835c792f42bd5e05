"""Replication: the change records a region ships, the shipper and anti-entropy that
run in a region, and the per-region merge model (`regional_state`) the global tier applies."""
