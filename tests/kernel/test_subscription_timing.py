"""A live subscription's timing (podium.gql.live_subscribe.subscription_timing): every subscription
that ends is one latency sample in `podium_graphql_operation_duration`; its `graphql.operation` span
is built only when spans are exported or the subscription joins a trace (otherwise it would be built,
held for the subscription's life, and dropped)."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from podium.gql.live_subscribe import subscription_timing
from podium.telemetry import Telemetry


def _samples(telemetry: Telemetry) -> float:
    text = telemetry.prometheus_text().decode()
    found = re.search(r'podium_graphql_operation_duration_milliseconds_count\{[^}]*operation="Live"'
                      r'[^}]*type="subscription"[^}]*\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_a_span_only_when_exported_or_joining_a_trace_and_always_a_sample() -> None:
    telemetry = Telemetry("region", "test")
    spans = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    context = {"telemetry": telemetry}
    try:
        with subscription_timing(context, "Live"):
            pass
        assert spans.get_finished_spans() == () and _samples(telemetry) == 1

        with telemetry.tracer.start_as_current_span("GET /graphql"), subscription_timing(context, "Live"):
            pass
        assert [s.name for s in spans.get_finished_spans()] == ["graphql.operation", "GET /graphql"]
        assert spans.get_finished_spans()[0].attributes == {"graphql.operation.name": "Live",
                                                             "graphql.operation.type": "subscription"}
        assert _samples(telemetry) == 2

        telemetry.exporting_spans = True
        spans.clear()
        with subscription_timing(context, "Live"):
            pass
        assert [s.name for s in spans.get_finished_spans()] == ["graphql.operation"] and _samples(telemetry) == 3

        telemetry.exporting_spans = False
        with pytest.raises(RuntimeError), subscription_timing(context, "Live"):   # a failing operation: no sample
            raise RuntimeError("boom")
        assert _samples(telemetry) == 3
    finally:
        telemetry.shutdown()
