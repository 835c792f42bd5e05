"""OpenTelemetry metrics and traces through the SDK, exported in Prometheus text at `/metrics`.

Each app (a region, the global tier) owns a `Telemetry`: its own MeterProvider with a
PrometheusMetricReader on its own prometheus_client registry, so several apps in one process (the
tests) never mix their series. Instruments are created once and shared by the components."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from podium.breaker import STATE_VALUE, Breakers
from podium.gc_tuning import GC_TIMER, GENERATIONS

LOOP_STATES = ("running", "backing_off", "failed", "stopped")   # podium.tasks.LoopState values
LATENCY_BUCKETS_MS = (0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
# Lags (commit -> push, commit -> global merge) run from a tick to minutes during an outage.
LAG_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000)


class LatencyHistogram:
    """A latency histogram (ms) with pre-bound children, exported as `<name>_milliseconds` with its
    labels (the name, buckets and labels the OTel exporter gave it, without its `otel_scope_*`
    labels). The OTel SDK cleans, hashes and locks the attributes of every measurement (some 10-20
    µs, twice per read); here a label set is bound once (`child`) and a sample is one
    prometheus_client `observe`. At most `children_max` label sets: later ones share one child
    labelled `overflow` (as the SDK's cardinality limit does), so client-chosen operation names
    cannot grow it without bound."""

    def __init__(self, name: str, description: str, labelnames: tuple[str, ...], registry: CollectorRegistry,
                 children_max: int = 2000) -> None:
        self._histogram = Histogram(f"{name}_milliseconds", description, labelnames, registry=registry,
                                    buckets=LATENCY_BUCKETS_MS)
        self._labelnames = labelnames
        self._children: dict[tuple[str, ...], Callable[[float], None]] = {}
        self._children_max = children_max

    def child(self, *values: str) -> Callable[[float], None]:
        """The `observe` of the child for these label values (in `labelnames` order)."""
        observe = self._children.get(values)
        if observe is None:
            if len(self._children) >= self._children_max:
                values = ("overflow",) * len(self._labelnames)
                observe = self._children.get(values)
            if observe is None:
                observe = self._children[values] = self._histogram.labels(*values).observe
        return observe

    def record(self, amount: float, attributes: Mapping[str, str]) -> None:
        """One sample by attribute mapping (the OTel histogram's call, kept for every caller)."""
        self.child(*(str(attributes[n]) for n in self._labelnames))(amount)


def _gc_cpu_seconds(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(GC_TIMER.cpu_s[g], {"generation": str(g)}) for g in GENERATIONS]


def _gc_collections(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(GC_TIMER.collections[g], {"generation": str(g)}) for g in GENERATIONS]


class Telemetry:
    def __init__(self, service: str, region: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.service = service
        self.exporting_spans = False   # a span processor exports (a request without a trace context starts one)
        resource = Resource.create({"service.name": service, "podium.region": region})
        self.provider = MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader(registry=self.registry)])
        self.tracer_provider = TracerProvider(resource=resource)
        meter = self.provider.get_meter("podium")
        self.tracer: Tracer = self.tracer_provider.get_tracer("podium")
        # The two histograms every request records into: pre-bound children (see LatencyHistogram).
        self.request_latency = LatencyHistogram(
            "podium_graphql_operation_duration", "GraphQL operation latency per operation name and type",
            ("operation", "type"), self.registry)
        self.http_latency = LatencyHistogram(
            "podium_http_request_duration", "HTTP request latency per route", ("route", "method", "status"),
            self.registry)
        self.fanout_tick = meter.create_histogram(
            "podium_fanout_tick_duration", unit="ms", description="Time to compute one subscription tick (fan-out lag)",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_MS)
        self.push_delivery = meter.create_histogram(
            "podium_subscription_tick_delivery", unit="ms",
            description="One tick's reads and frame writes to every push subscriber (above tick_ms: coalescing)",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_MS)
        self.coalesced_frames = meter.create_counter(
            "podium_subscription_coalesced_frames",
            description="Subscriber-ticks not written (slow socket or tick out of time), caught up by one later diff")
        self.coalesced_frames.add(0)   # the series exists from the start (rate() sees the first)
        self.push_lag = meter.create_histogram(
            "podium_subscription_push_lag", unit="ms",
            description="Commit of a change in Redis to the subscription tick that pushes it, per watched board change",
            explicit_bucket_boundaries_advisory=LAG_BUCKETS_MS)
        self.cache_lookups = meter.create_counter(
            "podium_read_cache_lookups", description="Read-cache lookups by result (hit, miss, shared)")
        for result in ("hit", "miss", "shared"):   # the series exist from the start, at 0 (rate() sees the first)
            self.cache_lookups.add(0, {"result": result})
        self.rate_limited = meter.create_counter(
            "podium_rate_limited_requests", description="Requests refused by the rate limiter")
        self.scores = meter.create_counter("podium_scores", description="Score entries by outcome")
        self._gauges: dict[str, Callable[[], float]] = {}
        meter.create_observable_gauge("podium_subscriptions", callbacks=[self._observe("subscriptions")],
                                      description="Open subscriptions in this process")
        meter.create_observable_counter(
            "podium_gc_cpu_seconds", callbacks=[_gc_cpu_seconds],
            description="CPU seconds of the cyclic collector per generation (0 until podium.gc_tuning's timer is on)")
        meter.create_observable_counter(
            "podium_gc_collections", callbacks=[_gc_collections],
            description="Cyclic collections per generation (counted by podium.gc_tuning's timer)")

    def _observe(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            read = self._gauges.get(name)
            return [Observation(read())] if read else []

        return callback

    def watch_loops(self, report: Callable[[], dict[str, dict[str, Any]]]) -> None:
        """Gauges of the supervised loops (`Supervisor.report`): restarts, and 1 for each loop's state."""
        meter = self.provider.get_meter("podium")

        def restarts(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(st["restarts"], {"loop": name}) for name, st in report().items()]

        def states(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(1 if st["state"] == state else 0, {"loop": name, "state": state})
                    for name, st in report().items() for state in LOOP_STATES]

        meter.create_observable_gauge("podium_loop_restarts", callbacks=[restarts],
                                      description="Restarts of each supervised background loop")
        meter.create_observable_gauge("podium_loop_state", callbacks=[states],
                                      description="1 for the state each supervised loop is in")

    def watch_breakers(self, breakers: Breakers) -> None:
        """`podium_circuit_state{dependency}`: 0 closed, 1 half-open, 2 open (podium/breaker.py);
        `podium_circuit_rejected`: calls refused while open. A dependency appears at its first call."""
        meter = self.provider.get_meter("podium")

        def states(options: CallbackOptions) -> Iterable[Observation]:
            now = breakers.clock.now_ms()
            return [Observation(STATE_VALUE[b.state(now)], {"dependency": b.name}) for b in breakers]

        def rejected(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(b.rejected, {"dependency": b.name}) for b in breakers]

        meter.create_observable_gauge("podium_circuit_state", callbacks=[states],
                                      description="Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open")
        meter.create_observable_counter("podium_circuit_rejected", callbacks=[rejected],
                                        description="Calls refused at once by an open circuit breaker")

    def write_spans(self, directory: str) -> None:
        """Exports every finished span as one JSON line to `<directory>/<service>-<pid>.jsonl`
        (`metrics.spans_dir`): how the tests follow one trace across processes."""
        import os

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        os.makedirs(directory, exist_ok=True)
        out = open(os.path.join(directory, f"{self.service}-{os.getpid()}.jsonl"), "a", buffering=1)  # noqa: SIM115
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
            out=out, formatter=lambda span: span.to_json(indent=None) + "\n")))
        self.exporting_spans = True

    def gauge_source(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        self.provider.shutdown()
        self.tracer_provider.shutdown()
