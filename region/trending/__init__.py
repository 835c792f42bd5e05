"""Trending: top-K events over arbitrary time ranges, exact and approximate, live.

A pure core (streams, buckets, events, exact top-K, sketches, the reference bucket table) and an
I/O shell (the Redis adapter, the service, HTTP and GraphQL front objects, the live fan-out)."""
