"""History of a region: the warm-store port and its SQLite/Cassandra adapters, the history writer."""
