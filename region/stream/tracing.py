"""W3C trace context through the event log: a traced `POST /v1/scores` puts its context in the Kafka
headers of every record it produces (`traceparent`, `tracestate`), and the worker parents its apply
span on it, so one trace runs request → broker → worker → Redis; the worker makes that context
current for the board's apply, so the change-stream entry keeps it and the trace continues through
the replication shipper to the global merge (podium/trace_context.py, replication/ship_trace.py).

Only a request that carries a sampled trace costs anything: an untraced batch gets no headers and
its records no spans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from podium.trace_context import context_of, current_headers

_PROPAGATOR = TraceContextTextMapPropagator()
__all__ = ["context_of", "current_headers", "request_span"]


@contextmanager
def request_span(tracer: Tracer, name: str, headers: Mapping[str, str], always: bool) -> Iterator[None]:
    """A SERVER span for a request, a child of the caller's W3C context (`traceparent` header) when
    it sent one; without one, a new trace only when `always` (this process exports spans)."""
    ctx = _PROPAGATOR.extract(headers)
    if not always and not trace.get_current_span(ctx).get_span_context().is_valid:
        yield
        return
    with tracer.start_as_current_span(name, context=ctx, kind=trace.SpanKind.SERVER):
        yield
