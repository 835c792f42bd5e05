"""W3C trace context (`traceparent`, `tracestate`) across process boundaries: Kafka record headers,
HTTP headers and the `traceparent` a change-stream entry keeps, so one trace follows a score from
`POST /v1/scores` through the event log and the region's Redis to the global tier's merge.

Only a sampled, valid context travels: an untraced request costs no header and no span anywhere."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
TRACEPARENT_LEN_MAX = 55     # "00-<32 hex>-<16 hex>-<2 hex>": a longer value is not a version-00 traceparent


def current_carrier() -> dict[str, str]:
    """The current span's context as W3C headers (`traceparent`, `tracestate`); empty when nothing is traced."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def current_headers() -> list[tuple[str, bytes]]:
    """Kafka record headers carrying the current span's context; empty when nothing is traced."""
    return [(k, v.encode()) for k, v in current_carrier().items()]


def current_traceparent() -> str:
    """The current span's `traceparent` ("" when nothing is traced): what a change-stream entry keeps."""
    return current_carrier().get("traceparent", "")


def context_of(headers: Iterable[tuple[str, bytes]] | Mapping[str, Any] | None) -> Context | None:
    """The trace context headers carry (None: untraced, or not a valid W3C context)."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    carrier = {k.lower(): (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
               for k, v in items if k.lower() in _PROPAGATOR.fields}
    if "traceparent" not in carrier:
        return None
    ctx = _PROPAGATOR.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def context_of_traceparent(traceparent: str) -> Context | None:
    return context_of({"traceparent": traceparent}) if 0 < len(traceparent) <= TRACEPARENT_LEN_MAX else None
