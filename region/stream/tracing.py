"""W3C trace context through the event log: a traced `POST /v1/scores` puts its context in the Kafka
headers of every record it produces (`traceparent`, `tracestate`), and the worker parents its apply
span on it, so one trace runs request → broker → worker → Redis.

Only a request that carries a sampled trace costs anything: an untraced batch gets no headers and
its records no spans."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
Headers = Sequence[tuple[str, bytes]]


def current_headers() -> list[tuple[str, bytes]]:
    """Kafka record headers carrying the current span's context; empty when nothing is traced."""
    if not trace.get_current_span().get_span_context().is_valid:
        return []
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]


def context_of(headers: Iterable[tuple[str, bytes]] | Mapping[str, Any] | None) -> Context | None:
    """The trace context a record's headers carry (None: an untraced record)."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    carrier = {k.lower(): (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
               for k, v in items if k.lower() in _PROPAGATOR.fields}
    if "traceparent" not in carrier:
        return None
    ctx = _PROPAGATOR.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


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
