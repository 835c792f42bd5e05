"""The global tier's view of each region as metrics: replication lag, time since last contact,
staleness and convergence lag (regional commit -> merged here), plus the replication-log consumer.

These are the series the per-region replication alerts and the replication-lag map are built on;
the label is `source_region` because a scrape target's own `region` label (set by the
ServiceMonitor) names where the global tier runs, not the region it reports on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation

from podium.telemetry import LAG_BUCKETS_MS

if TYPE_CHECKING:
    from podium.global_.replication_consumer import ReplicationConsumer
    from podium.global_.service import GlobalService


def convergence_histogram(meter: Meter) -> Histogram:
    return meter.create_histogram(
        "podium_global_convergence_lag", unit="ms",
        description="Regional commit (one apply call's changes) to its merge in the global tier, per source region",
        explicit_bucket_boundaries_advisory=LAG_BUCKETS_MS)


RANK_ERROR_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)


def rank_error_histogram(meter: Meter) -> Histogram:
    """The error bound (in ranks) of every rank served, by precision tier. The global tier counts
    every rank exactly in its merged set, so the bound is 0 today; the series shows it stays so."""
    return meter.create_histogram(
        "podium_global_rank_error_bound",
        description="errorBound (ranks) of each rank served, by precision tier",
        explicit_bucket_boundaries_advisory=RANK_ERROR_BUCKETS)


def observe_regions(meter: Meter, service: GlobalService) -> None:
    def per_region(value: Callable[[str], float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value(name), {"source_region": name}) for name in sorted(service.regions)]

        return callback

    now = service.clock.now_ms
    meter.create_observable_gauge(
        "podium_global_region_lag_ms", callbacks=[per_region(lambda r: service.lag_ms(service.regions[r]))],
        description="Age of the oldest change each region acknowledged that the global tier has not merged")
    meter.create_observable_gauge(
        "podium_global_region_contact_age_ms",
        callbacks=[per_region(lambda r: max(0, now() - service.regions[r].last_contact_ms))],
        description="Time since each region was last heard from (batch or heartbeat)")
    meter.create_observable_gauge(
        "podium_global_region_stale", callbacks=[per_region(lambda r: int(service.is_stale(service.regions[r])))],
        description="1 while a region is labelled stale (lag or silence over global.stale_after_ms)")
    meter.create_observable_counter(
        "podium_global_changes_received", callbacks=[per_region(lambda r: service.regions[r].changes_received)],
        description="Changes received from each region")


def observe_consumer(meter: Meter, consumer: ReplicationConsumer) -> None:
    def lag(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"consumer": "global-replication", "partition": str(p)})
                for p, n in sorted(consumer.lag.items())]

    meter.create_observable_gauge("podium_kafka_consumer_lag", callbacks=[lag],
                                  description="Records behind the partition's high watermark, per consumer and partition")
    meter.create_observable_counter("podium_global_replication_records",
                                    callbacks=[lambda o: [Observation(consumer.applied, {"outcome": "applied"}),
                                                          Observation(consumer.rejected, {"outcome": "rejected"})]],
                                    description="Replication-log records applied or rejected (forged, malformed)")
    meter.create_observable_counter("podium_global_replication_consumer_restarts",
                                    callbacks=[lambda o: [Observation(consumer.restarts)]],
                                    description="Replication-log consume loops restarted after a broker or store failure")
