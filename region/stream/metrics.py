"""The stream worker's metrics: records applied, micro-batch apply time, Kafka consumer lag per
partition, quarantines and history drops (the worker-side series of the stream alerts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from podium.telemetry import LATENCY_BUCKETS_MS, Telemetry

WORKER_CONSUMER = "stream-worker"  # the `consumer` label of podium_kafka_consumer_lag


class StreamMetrics:
    def __init__(self, telemetry: Telemetry) -> None:
        meter = telemetry.provider.get_meter("podium")
        self.lag: dict[int, int] = {}   # partition -> records behind its high watermark after the last batch
        self.records = meter.create_counter("podium_stream_records", description="Score records applied by the worker")
        self.entries = meter.create_counter(
            "podium_stream_entries", description="Score entries in the records the worker applied (a record holds a batch's entries for one partition)")
        self.batch_ms = meter.create_histogram(
            "podium_stream_batch_duration", unit="ms", description="Time to apply one micro-batch to Redis (retries included)",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_MS)
        self.quarantined = meter.create_counter(
            "podium_stream_quarantined", description="Entries quarantined by the stream anti-cheat, by board and reason")
        self.records.add(0)
        self.entries.add(0)
        meter.create_observable_gauge("podium_kafka_consumer_lag", callbacks=[self._lag],
                                      description="Records behind the partition's high watermark, per consumer and partition")

    def _lag(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"consumer": WORKER_CONSUMER, "partition": str(p)}) for p, n in sorted(self.lag.items())]

    def note_positions(self, last_offsets: dict[int, int], highwater: Callable[[int], int | None]) -> None:
        """After a batch: each partition's lag is its high watermark minus the next offset to read."""
        for partition, offset in last_offsets.items():
            mark = highwater(partition)
            if mark is not None:
                self.lag[partition] = max(0, mark - offset - 1)
