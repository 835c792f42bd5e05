"""Per-operation latency (a histogram by operation name and type) and a trace span per operation."""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension


class OperationTiming(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        telemetry = (self.execution_context.context or {}).get("telemetry") if isinstance(
            self.execution_context.context, dict) else None
        if telemetry is None:
            yield
            return
        started = time.perf_counter()
        with telemetry.tracer.start_as_current_span("graphql.operation") as span:
            yield
            name = self.execution_context.operation_name or "anonymous"
            try:
                kind = self.execution_context.operation_type.value
            except Exception:  # noqa: BLE001 - unparsable documents have no type
                kind = "invalid"
            span.set_attribute("graphql.operation.name", name)
            span.set_attribute("graphql.operation.type", kind)
            telemetry.request_latency.record((time.perf_counter() - started) * 1000,
                                             {"operation": name, "type": kind})
