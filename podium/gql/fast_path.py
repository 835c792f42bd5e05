"""Prepared queries executed on graphql-core directly, past Strawberry's per-request machinery.

Strawberry builds, for every request, an execution context, one instance of every schema extension
and the generators that wrap parsing, validation and execution. For a document already in the
operation cache (parsed, and valid under every validation rule: depth, aliases, introspection),
all that is left of those hooks is the cost check, `extensions.code` on errors and the operation's
timing; this module does exactly those around graphql-core's `execute` on the cached
`DocumentNode`, with the same execution-context class, so a response is byte-identical to the
general path's (tests/region/test_persisted_queries.py compares all three paths).

Mutations take it too (when the request may carry one: POST): graphql-core runs their root fields
one after another as on the general path, and an admin's mutations are written to the audit log
after it, as `AuditMutations` does there (`podium.gql.audit.record_admin_mutations`), so a hot
mutation such as `joinContest` skips Strawberry's per-request machinery like a hot read.

Anything unusual goes the general way, decided before anything runs: a document not cached or
cached with validation errors, a subscription, an operation of a kind the request may not carry,
an unknown operation name, variables that are not an object, a cost over the limit (the general
path refuses it with its own message). Rate limits, auth and Cache-Control are outside this module
(middleware and resolvers) and apply unchanged."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import trace
from strawberry.execution import optimized_is_awaitable
from strawberry.schema import Schema
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.types import ExecutionResult
from strawberry.utils.await_maybe import await_maybe

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import OperationDefinitionNode, OperationType, execute, get_operation_ast
from podium.gql.audit import AuditMutations, record_admin_mutations
from podium.gql.errors import coded
from podium.gql.limits.prepared import PreparedOperation, PreparedOperationsFactory


@contextlib.contextmanager
def operation_timing(context: Any, operation_name: str | None, operation: OperationDefinitionNode) -> Iterator[None]:
    """What OperationTiming records on the general path: one latency sample (none when the
    operation raises), and its span when spans are exported or the request joins a trace."""
    telemetry = context.get("telemetry") if isinstance(context, dict) else None
    if telemetry is None:
        yield
        return
    name = operation_name or (operation.name.value if operation.name else "anonymous")
    kind = operation.operation.value
    started = time.perf_counter()
    if not (telemetry.exporting_spans or trace.get_current_span().get_span_context().is_valid):
        # No exporter and no trace to join: the span would be built and dropped (a third of a
        # planned read's telemetry cost); the latency sample is the same either way.
        yield
        telemetry.request_latency.child(name, kind)((time.perf_counter() - started) * 1000)
        return
    with telemetry.tracer.start_as_current_span("graphql.operation") as span:
        yield
        span.set_attribute("graphql.operation.name", name)
        span.set_attribute("graphql.operation.type", kind)
        telemetry.request_latency.child(name, kind)((time.perf_counter() - started) * 1000)


def prepared_factory(schema: Schema) -> PreparedOperationsFactory | None:
    """The schema's prepared-operation guard (None: the operation cache is off)."""
    found = [ext for ext in schema.extensions if isinstance(ext, PreparedOperationsFactory)]
    return found[0] if found else None


def cached_operation(guard: PreparedOperationsFactory, query: str, operation_name: str | None,
                     variables: dict[str, Any] | None, kind: OperationType | frozenset[OperationType],
                     accept: Callable[[OperationDefinitionNode], bool] | None = None,
                     ) -> tuple[PreparedOperation, OperationDefinitionNode] | None:
    """The `kind` operation (or one of the kinds) of `query` when the operation cache already holds the document valid,
    `accept` (if given) takes the operation and its cost for `variables` is within the limit; else
    None, and the general path answers (and reports whatever is wrong). Shared by the query fast
    path and live subscriptions."""
    cache = guard.cache
    key = cache.key(query)
    if key not in cache.entries:   # looked up without counting: the general path counts it
        return None
    prepared = cache.get(key)
    if prepared is None or prepared.errors:
        return None
    operation = get_operation_ast(prepared.document, operation_name)
    kinds = kind if isinstance(kind, frozenset) else frozenset((kind,))
    if operation is None or operation.operation not in kinds or (accept is not None and not accept(operation)):
        return None
    try:
        cost = prepared.cost(operation_name, guard.page_max)(variables or {})
    except Exception:  # noqa: BLE001 - whatever the estimate trips on, the general path reports
        return None
    return (prepared, operation) if cost <= guard.cost_max else None


_QUERY = frozenset((OperationType.QUERY,))
_MUTATION = frozenset((OperationType.MUTATION,))
_BOTH = _QUERY | _MUTATION


class FastPath:
    """Runs cached, valid queries and mutations; `plan` says whether a request qualifies, `run`
    executes it."""

    def __init__(self, schema: Schema, guard: PreparedOperationsFactory) -> None:
        # A schema extension with a `resolve` hook is field middleware the fast path would skip;
        # none of Podium's guards has one, and a schema that gains one keeps the general path.
        if any(ext._implements_resolve() for ext in schema.get_extensions()):
            raise ValueError("a schema extension resolves fields: the fast path cannot serve this schema")
        self.schema = schema
        self.guard = guard
        self.context_class_kwargs = execution_context_class_kwargs(schema.execution_context_class)
        # admin mutations are audited here only where the general path audits them (the region's schema)
        self.audits = any(ext is AuditMutations for ext in schema.extensions)
        self.served = 0   # requests this path answered (tests check it is taken)

    def plan(self, query: object, operation_name: str | None, variables: object,
             queries_allowed: bool, mutations_allowed: bool = False,
             ) -> tuple[PreparedOperation, OperationDefinitionNode] | None:
        kinds = (_BOTH if mutations_allowed else _QUERY) if queries_allowed else (_MUTATION if mutations_allowed else None)
        if kinds is None or not isinstance(query, str) or not isinstance(variables, dict | None):
            return None
        return cached_operation(self.guard, query, operation_name, variables, kinds)

    async def run(self, prepared: PreparedOperation, operation: OperationDefinitionNode, *,
                  operation_name: str | None, variables: dict[str, Any] | None, context: Any,
                  root_value: Any, operation_extensions: dict[str, Any] | None) -> ExecutionResult:
        self.served += 1
        with operation_timing(context, operation_name, operation):
            result = await self._execute(prepared, operation_name, variables, context, root_value, operation_extensions)
            if self.audits and operation.operation is OperationType.MUTATION and result.data:
                await record_admin_mutations(context, self.schema._schema, operation, variables, result.data)
        return result

    async def _execute(self, prepared: PreparedOperation, operation_name: str | None,
                       variables: dict[str, Any] | None, context: Any, root_value: Any,
                       operation_extensions: dict[str, Any] | None) -> ExecutionResult:
        result = await await_maybe(execute(
            self.schema._schema, prepared.document, root_value=root_value, variable_values=variables,
            operation_name=operation_name, context_value=context,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # Strawberry passes the same
            operation_extensions=operation_extensions, **self.context_class_kwargs))
        assert isinstance(result, GraphQLExecutionResult)
        errors = result.errors
        if errors:
            self.schema._process_errors(errors)   # logged as Strawberry logs them, before coding
            errors = [coded(e) for e in errors]   # what ErrorCodes does on the general path
        return ExecutionResult(data=result.data, errors=errors)
