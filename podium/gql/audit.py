"""Records every admin mutation that succeeded in the audit log: who (the admin's name from
`auth.caller`), what (the mutation field and its arguments), when (the injected clock).

Field by field: in a document with several mutations, only those that returned data are recorded."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from graphql.utilities import value_from_ast_untyped
from strawberry.extensions import SchemaExtension

from graphql import FieldNode, GraphQLSchema, OperationDefinitionNode, OperationType, Undefined
from podium.errors import Unavailable
from podium.web.audit import AuditLog, AuditRecord

logger = logging.getLogger("podium.audit")


def audit_log_of(service: Any) -> AuditLog:
    return AuditLog(service.redis, service.settings.api.audit_log_len_max)


def _operation(document: Any, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in getattr(document, "definitions", []) if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        ops = [o for o in ops if o.name is not None and o.name.value == name]
    return ops[0] if len(ops) == 1 else None


def succeeded_fields(schema: GraphQLSchema, op: OperationDefinitionNode, variables: dict[str, Any] | None,
                     data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field name, arguments) of each top-level mutation field that returned a value."""
    root = schema.mutation_type
    out = []
    for node in op.selection_set.selections:
        if not isinstance(node, FieldNode) or root is None or node.name.value not in root.fields:
            continue
        key = node.alias.value if node.alias else node.name.value
        if data.get(key) is None:
            continue
        # the arguments as the client sent them (JSON values), variables substituted
        args = {a.name.value: value_from_ast_untyped(a.value, variables or {}) for a in node.arguments or ()}
        # a variable the client left out is Undefined (the argument's default applied): not sent, not recorded
        args = {name: value for name, value in args.items() if value is not Undefined}
        out.append((node.name.value, args))
    return out


async def record_admin_mutations(context: Any, schema: GraphQLSchema, op: OperationDefinitionNode,
                                 variables: dict[str, Any] | None, data: dict[str, Any]) -> None:
    """Writes each succeeded root field of an admin's mutation `op` to the audit log (nothing for a
    player or an anonymous caller). Shared by the general path (below) and the fast path."""
    who = context.get("_caller") if isinstance(context, dict) else None
    if who is None or not who.admin:
        return
    service = context["service"]
    log = audit_log_of(service)
    for action, args in succeeded_fields(schema, op, variables, data):
        try:
            await log.record(AuditRecord(service.clock.now_ms(), who.name or "admin", action, args))
        except Unavailable:
            # The action itself succeeded: failing its response now would invite a retry of a
            # done action. The audit log shares the rank store's Redis, so this is rare.
            logger.warning("audit log unavailable: %s by %s not recorded", action, who.name)


class AuditMutations(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ec = self.execution_context
        context = ec.context if isinstance(ec.context, dict) else {}
        who = context.get("_caller")
        if who is None or not who.admin or ec.result is None or not ec.result.data:
            return
        op = _operation(ec.graphql_document, ec.operation_name)
        if op is None or op.operation is not OperationType.MUTATION:
            return
        await record_admin_mutations(context, ec.schema._schema, op, ec.variables, ec.result.data)
