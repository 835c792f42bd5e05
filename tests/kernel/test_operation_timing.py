"""Operation timing, for the fast path's operations (podium.gql.fast_path.operation_timing) and for
live subscriptions (podium.gql.live_subscribe.subscription_timing): every operation is one latency
sample in `podium_graphql_operation_duration`; its `graphql.operation` span is built only when spans
are exported or the operation joins a trace (otherwise it would be built, held and dropped)."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from graphql import parse
from podium.gql.fast_path import operation_timing
from podium.gql.live_subscribe import subscription_timing
from podium.telemetry import Telemetry

OPERATION = parse("query Top { count(board: \"b\") }").definitions[0]


def _samples(telemetry: Telemetry, operation: str = "Top") -> float:
    text = telemetry.prometheus_text().decode()
    found = re.search(r'podium_graphql_operation_duration_milliseconds_count\{[^}]*operation="' + operation
                      + r'"[^}]*\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_a_span_only_when_exported_or_joining_a_trace_and_always_a_sample() -> None:
    telemetry = Telemetry("region", "test")
    spans = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    context = {"telemetry": telemetry}
    try:
        with operation_timing(context, "Top", OPERATION):   # type: ignore[arg-type]
            pass
        assert spans.get_finished_spans() == () and _samples(telemetry) == 1

        with telemetry.tracer.start_as_current_span("POST /graphql"), operation_timing(context, "Top", OPERATION):  # type: ignore[arg-type]
            pass
        names = [s.name for s in spans.get_finished_spans()]
        assert names == ["graphql.operation", "POST /graphql"] and _samples(telemetry) == 2
        assert spans.get_finished_spans()[0].attributes == {"graphql.operation.name": "Top",
                                                             "graphql.operation.type": "query"}

        telemetry.exporting_spans = True
        spans.clear()
        with operation_timing(context, "Top", OPERATION):   # type: ignore[arg-type]
            pass
        assert [s.name for s in spans.get_finished_spans()] == ["graphql.operation"] and _samples(telemetry) == 3
    finally:
        telemetry.shutdown()


def test_a_bound_child_and_a_record_feed_one_series_and_label_sets_are_bounded() -> None:
    telemetry = Telemetry("region", "test")
    try:
        histogram = telemetry.http_latency
        observe = histogram.child("/graphql", "POST", "200")
        for ms in (0.4, 3.0, 3000.0):
            observe(ms)
        histogram.record(7.0, {"route": "/graphql", "method": "POST", "status": "200"})
        text = telemetry.prometheus_text().decode()
        labels = 'method="POST",route="/graphql",status="200"'
        assert f"podium_http_request_duration_milliseconds_count{{{labels}}} 4.0" in text
        assert f"podium_http_request_duration_milliseconds_sum{{{labels}}} 3010.4" in text
        assert f'podium_http_request_duration_milliseconds_bucket{{le="5.0",{labels}}} 2.0' in text
        small = type(histogram)("podium_test_duration", "test", ("operation",), telemetry.registry, children_max=2)
        for name in ("a", "b", "c", "d"):
            small.record(1.0, {"operation": name})
        text = telemetry.prometheus_text().decode()
        counts = dict(re.findall(r'podium_test_duration_milliseconds_count\{operation="(\w+)"\} (\S+)', text))
        assert counts == {"a": "1.0", "b": "1.0", "overflow": "2.0"}
    finally:
        telemetry.shutdown()


def test_a_subscription_spans_only_when_exported_or_joining_a_trace_and_always_samples() -> None:
    telemetry = Telemetry("region", "test")
    spans = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    context = {"telemetry": telemetry}
    try:
        with subscription_timing(context, "Live"):
            pass
        assert spans.get_finished_spans() == () and _samples(telemetry, "Live") == 1

        with telemetry.tracer.start_as_current_span("GET /graphql"), subscription_timing(context, "Live"):
            pass
        assert [s.name for s in spans.get_finished_spans()] == ["graphql.operation", "GET /graphql"]
        assert spans.get_finished_spans()[0].attributes == {"graphql.operation.name": "Live",
                                                             "graphql.operation.type": "subscription"}
        assert _samples(telemetry, "Live") == 2

        telemetry.exporting_spans = True
        spans.clear()
        with subscription_timing(context, "Live"):
            pass
        assert [s.name for s in spans.get_finished_spans()] == ["graphql.operation"] and _samples(telemetry, "Live") == 3

        telemetry.exporting_spans = False
        with pytest.raises(RuntimeError), subscription_timing(context, "Live"):   # a failing operation: no sample
            raise RuntimeError("boom")
        assert _samples(telemetry, "Live") == 3
    finally:
        telemetry.shutdown()
