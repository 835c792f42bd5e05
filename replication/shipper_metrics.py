"""The shipper's counters and lag as metrics: what the replication alerts watch on the region side
(the global tier reports the same link from its end, see global_/region_metrics.py)."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from podium.replication.shipper import Shipper, ShipperState


def observe_shipper(meter: Meter, shipper: Shipper) -> None:
    stats = shipper.stats

    def lag(options: CallbackOptions) -> Iterable[Observation]:
        # Every board, 0 when all is shipped: an alert must see the series fall, not vanish.
        boards = set(shipper.known_boards) | set(stats.lag_ms)
        return [Observation(stats.lag_ms.get(b, 0), {"board": b}) for b in sorted(boards)]

    def backing_off(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1 if shipper.state is ShipperState.BACKING_OFF else 0)]

    def paused(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1 if shipper.paused else 0)]

    meter.create_observable_gauge("podium_replication_outbox_lag_ms", callbacks=[lag],
                                  description="Age of the oldest change not yet shipped to the global tier, per board")
    meter.create_observable_gauge("podium_replication_backing_off", callbacks=[backing_off],
                                  description="1 while the shipper backs off after failed sends to the global tier")
    meter.create_observable_gauge("podium_replication_paused", callbacks=[paused],
                                  description="1 while an operator paused shipping")
    meter.create_observable_counter("podium_replication_changes_shipped",
                                    callbacks=[lambda o: [Observation(stats.changes_sent)]],
                                    description="Changes shipped to the global tier")
    meter.create_observable_counter("podium_replication_ship_failures",
                                    callbacks=[lambda o: [Observation(stats.failures)]],
                                    description="Failed sends to the global tier")
    meter.create_observable_counter("podium_replication_outbox_overflows",
                                    callbacks=[lambda o: [Observation(stats.overflows)]],
                                    description="Times unshipped changes were trimmed from the outbox (anti-entropy repairs them)")
