"""Replication: version vectors, conflict policies, shipping and anti-entropy between regions and the global tier."""
