"""Live subscriptions started on graphql-core directly, past Strawberry's per-operation machinery.

For every `subscribe` message Strawberry builds an execution context, one instance of every schema
extension, a middleware manager and the generators that run the extension hooks around parsing,
validation and execution; at a connect storm of 10,000 subscribers that set-up was a quarter of
the server's CPU (py-spy). The document itself is already parsed, validated and cost-compiled once
per distinct text by the operation cache (`podium.gql.limits.prepared`). So for a document in that
cache, valid, whose operation is a subscription to one of the known live fields (`topChanged`,
`rankChanged`, ...), this module does only what is left of those hooks: the cost check with the
request's variables, graphql-core's `subscribe` on the cached `DocumentNode` (same execution-context
class, same empty middleware), Strawberry's error logging, and the operation's timing span. Each
result is handed to the protocol handler exactly as `Schema.stream` hands it (an `ExecutionResult`,
or a `PreExecutionError` when graphql-core refuses before the resolver runs), so the messages and
close codes on the socket are the general path's (tests/region/test_live_subscribe.py compares both
paths on random and hostile payloads).

Anything else goes the general way, decided before anything runs: a document not cached (its first
sender fills the cache), cached with errors, an unknown operation name, a query or mutation, another
root field, variables that are not an object, operation extensions, a cost over the limit.
Authorization, rate limits and the per-connection and per-process subscription limits are not here:
they are in the resolvers, the ASGI middleware and the handlers, and apply unchanged."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from typing import Any

from opentelemetry import trace
from strawberry.schema import Schema
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.schema.schema import _coerce_error
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType as StrawberryOperationType
from strawberry.utils.aio import aclosing
from strawberry.utils.await_maybe import await_maybe

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    MiddlewareManager,
    OperationDefinitionNode,
    OperationType,
    subscribe,
)
from podium.gql.fast_path import cached_operation
from podium.gql.limits.prepared import PreparedOperation, PreparedOperationsFactory

Plan = tuple[PreparedOperation, OperationDefinitionNode]


@contextlib.contextmanager
def subscription_timing(context: Any, operation_name: str | None) -> Iterator[None]:
    """What OperationTiming records for a subscription on the general path: one latency sample when
    it ends (none when it raises), and one span over the operation's life when spans are exported or
    the operation joins a trace (the fast path's rule, podium.gql.fast_path.operation_timing).

    Why not always the span: with no exporter it is built and dropped, and at a connect storm of
    10,000 subscribers building it (sampler, ids, attributes, a lock per span) was 9% of the server's
    CPU (py-spy); it also stayed in memory for the subscription's whole life."""
    telemetry = context.get("telemetry") if isinstance(context, dict) else None
    if telemetry is None:
        yield
        return
    name = operation_name or "anonymous"
    started = time.perf_counter()
    if not (telemetry.exporting_spans or trace.get_current_span().get_span_context().is_valid):
        yield
        telemetry.request_latency.record((time.perf_counter() - started) * 1000,
                                         {"operation": name, "type": "subscription"})
        return
    with telemetry.tracer.start_as_current_span("graphql.operation") as span:
        yield
        span.set_attribute("graphql.operation.name", name)
        span.set_attribute("graphql.operation.type", "subscription")
        telemetry.request_latency.record((time.perf_counter() - started) * 1000,
                                         {"operation": name, "type": "subscription"})


class LiveSubscribe:
    """Starts cached, valid subscriptions to the `fields` named (root field names of the
    Subscription type); `plan` says whether a request qualifies, `stream` runs it."""

    def __init__(self, schema: Schema, guard: PreparedOperationsFactory, fields: Iterable[str]) -> None:
        # an extension with a `resolve` hook is field middleware this path would skip (as fast_path)
        if any(ext._implements_resolve() for ext in schema.get_extensions()):
            raise ValueError("a schema extension resolves fields: live subscriptions cannot skip it")
        self.schema = schema
        self.guard = guard
        self.fields = frozenset(fields)
        self.context_class_kwargs = execution_context_class_kwargs(schema.execution_context_class)
        self.middleware = MiddlewareManager()   # what Strawberry passes when no extension resolves
        self.started = 0                        # operations this path started (tests check it is taken)

    def plan(self, query: object, operation_name: object, variables: object,
             operation_extensions: object = None) -> Plan | None:
        if (not isinstance(query, str) or not isinstance(operation_name, str | None)
                or not isinstance(variables, dict | None) or operation_extensions is not None):
            return None
        return cached_operation(self.guard, query, operation_name, variables, OperationType.SUBSCRIPTION,
                                accept=self._one_known_field)

    def _one_known_field(self, operation: OperationDefinitionNode) -> bool:
        selections = operation.selection_set.selections
        return len(selections) == 1 and isinstance(selections[0], FieldNode) and selections[0].name.value in self.fields

    async def stream(self, plan: Plan, *, operation_name: str | None, variables: dict[str, Any] | None,
                     context: Any, root_value: Any) -> AsyncGenerator[ExecutionResult, None]:
        """Schema.stream's subscription branch without the extension hooks (none of Podium's
        guards does anything there once the document is prepared, see the module docstring)."""
        self.started += 1
        prepared, _operation = plan
        with subscription_timing(context, operation_name):
            try:
                source: AsyncIterator[GraphQLExecutionResult] | GraphQLExecutionResult = await await_maybe(subscribe(
                    self.schema._schema, prepared.document, root_value=root_value, context_value=context,
                    variable_values=variables, operation_name=operation_name, middleware=self.middleware,
                    operation_extensions=None,
                    **self.context_class_kwargs))
            except Exception as exc:  # noqa: BLE001 - as Strawberry: an error result, not a crash
                yield self._result(GraphQLExecutionResult(data=None, errors=[_coerce_error(exc)]))
                return
            if isinstance(source, GraphQLExecutionResult):   # refused before the resolver ran
                yield self._result(PreExecutionError(data=None, errors=source.errors))
                return
            try:
                async with aclosing(source):
                    async for result in source:
                        yield self._result(result)
            except Exception as exc:  # noqa: BLE001 - graphql-core does not catch what the stream raises
                yield self._result(GraphQLExecutionResult(data=None, errors=[_coerce_error(exc)]))

    def _result(self, result: GraphQLExecutionResult | ExecutionResult) -> ExecutionResult:
        if result.errors:
            self.schema._process_errors(result.errors)   # logged as Strawberry logs them
        if isinstance(result, GraphQLExecutionResult):
            return ExecutionResult(data=result.data, errors=result.errors)
        return result


class LiveSchema:
    """The schema as the websocket handlers see it: `stream` and `subscribe` start a qualifying
    live subscription through `LiveSubscribe`, anything else through the schema itself."""

    def __init__(self, schema: Schema, live: LiveSubscribe) -> None:
        self._schema_ = schema
        self.live = live

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema_, name)

    async def stream(self, query: str | None, variable_values: dict[str, Any] | None = None,
                     context_value: Any | None = None, root_value: Any | None = None,
                     operation_name: str | None = None, operation_extensions: dict[str, Any] | None = None,
                     allowed_operation_types: Iterable[StrawberryOperationType] | None = None) -> Any:
        allowed = allowed_operation_types is None or StrawberryOperationType.SUBSCRIPTION in allowed_operation_types
        plan = self.live.plan(query, operation_name, variable_values, operation_extensions) if allowed else None
        if plan is None:
            return await self._schema_.stream(query, variable_values=variable_values, context_value=context_value,
                                              root_value=root_value, operation_name=operation_name,
                                              operation_extensions=operation_extensions,
                                              allowed_operation_types=allowed_operation_types)
        return self.live.stream(plan, operation_name=operation_name, variables=variable_values,
                                context=context_value, root_value=root_value)

    async def subscribe(self, query: str | None, variable_values: dict[str, Any] | None = None,
                        context_value: Any | None = None, root_value: Any | None = None,
                        operation_name: str | None = None,
                        operation_extensions: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        result: AsyncIterator[Any] = await self.stream(
            query, variable_values=variable_values, context_value=context_value, root_value=root_value,
            operation_name=operation_name, operation_extensions=operation_extensions,
            allowed_operation_types=(StrawberryOperationType.SUBSCRIPTION,))
        return result


def live_subscribe(view: Any, fields: Iterable[str]) -> LiveSubscribe | None:
    """The live path of a GraphQL view (set as its `live`; the websocket handlers look for it),
    or None when the view has no fast path (the operation cache is off)."""
    fast = getattr(view, "fast_path", None)
    return LiveSubscribe(fast.schema, fast.guard, fields) if fast is not None and fields else None
