"""The shipper's `replication.ship` span: a batch continues the trace of the writes it carries.

A change-stream entry keeps the W3C traceparent of the write that made it (apply.lua, field "t").
The span of a batch is a child of its first traced entry and links every other traced write it
carries (a batch merges many requests; a span has one parent); the transports put the span's
context on the wire (HTTP `traceparent` header, Kafka record headers), and the global tier starts
its `global.merge` span as that context's child. A batch of untraced entries makes no span."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Tracer
from podium.replication.change_feed import FeedRow

from podium.trace_context import context_of_traceparent


@contextmanager
def ship_span(tracer: Tracer | None, region: str, board: str, rows: Sequence[FeedRow], changes: int) -> Iterator[None]:
    if tracer is None:
        yield
        return
    contexts = []
    seen: set[str] = set()
    for row in rows:
        if row.traceparent and row.traceparent not in seen:
            seen.add(row.traceparent)
            ctx = context_of_traceparent(row.traceparent)
            if ctx is not None:
                contexts.append(ctx)
    if not contexts:
        yield
        return
    # the SDK bounds a span's links (OTEL_SPAN_LINK_COUNT_LIMIT, 128 by default); the batch bounds them first
    links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:]]
    with tracer.start_as_current_span("replication.ship", context=contexts[0], kind=SpanKind.PRODUCER, links=links,
                                      attributes={"podium.region": region, "podium.board": board,
                                                  "podium.changes": changes, "podium.traced_writes": len(contexts)}):
        yield
