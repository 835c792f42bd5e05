"""The global tier's `global.merge` span: the child of the region's `replication.ship` span whose
W3C context came with the batch (HTTP `traceparent` header, or the Kafka replication record's
headers), so one trace runs from a region's `POST /v1/scores` to the merge here. A batch that
carries no context (untraced writes, heartbeats) makes no span."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import SpanKind, Tracer

from podium.trace_context import context_of


@contextmanager
def merge_span(tracer: Tracer, headers: Iterable[tuple[str, bytes]] | Mapping[str, Any] | None,
               doc: dict[str, Any]) -> Iterator[None]:
    ctx = context_of(headers)
    if ctx is None or doc.get("board") is None:
        yield
        return
    board = doc["board"].get("id") if isinstance(doc["board"], dict) else None
    changes = doc.get("changes")
    with tracer.start_as_current_span("global.merge", context=ctx, kind=SpanKind.CONSUMER, attributes={
            "podium.source_region": str(doc.get("region")), "podium.board": str(board),
            "podium.changes": len(changes) if isinstance(changes, list) else 0}):
        yield
