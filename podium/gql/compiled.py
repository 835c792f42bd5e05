"""Compiled plans: a prepared read query turned into a few Python closures that call the schema's
own resolvers and build the response dict directly, past graphql-core's per-field machinery.

The fast path (`podium.gql.fast_path`) skips Strawberry's per-request set-up, but graphql-core
still completes every field of every row through its generic machinery (a top-100 of three fields
is some 400 resolver and completion calls, most of the request's CPU). A plan does what that
machinery would do for the documents it accepts, once per document: it resolves the selection
against the schema, binds argument literals, and keeps for every field its Python attribute or
resolver and its leaf type's `serialize`. At run time it coerces the variables, calls the root
resolver (the very function Strawberry would call, with the same context) and walks the result.

A plan is only ever a shortcut for a success. Compilation refuses anything it does not model
exactly (fragments, directives, abstract types, duplicate response keys,
field extensions, a resolver not in the caller's allowlist, variables or arguments of other types
than String, Int, Boolean, Long, enums and lists of those); at run time a variable of an unexpected JSON type, a missing required
variable, a null where the schema forbids one, or any exception from a resolver makes the plan
give up (`Fallback`) before anything is sent, and the request is answered by the general path,
which produces the error with its usual message, path and `extensions.code`. So errors read
exactly as before, and successes are byte-identical (tests/region/test_compiled_plans.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql.pyutils import Undefined
from strawberry.schema import Schema

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    type_from_ast,
    value_from_ast,
)
from podium.gql.compiled_leaves import Completer, Fallback, leaf, leaf_exact
from podium.gql.compiled_row_encoders import RowField, RowsEncoder, rows_encoder
from podium.gql.compiled_rows import EDGE, ENTRY, EntryRows
from podium.gql.compiled_variables import Coerce, UnplannableVariable, variable_coercer

STRAWBERRY_DEFINITION = "strawberry-definition"   # GraphQLCoreConverter.DEFINITION_BACKREF


class Unplannable(Exception):
    """The document uses something a plan does not model: the fast path serves it instead."""


class PlanInfo:
    """What the resolvers read of Strawberry's `Info`: the context (service, request, response)."""

    __slots__ = ("context", "variables")

    def __init__(self, context: Any, variables: dict[str, Any]) -> None:
        self.context = context
        self.variables = variables   # the plan's own (coerced): for nested resolvers' arguments


@dataclass(frozen=True, slots=True)
class _Variable:
    name: str
    coerce: Coerce        # its JSON value -> graphql-core's coerced value, or Fallback
    non_null: bool
    default: Any          # the coerced default, or _UNSET


_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class _Argument:
    python_name: str
    literal: Any          # the bound literal, or _UNSET when the value is a variable
    variable: str | None
    non_null_without_default: bool   # a missing value is an error
    non_null: bool                   # a null value is an error (a default does not change that)


@dataclass(frozen=True, slots=True)
class _Field:
    key: str
    python_name: str
    resolver: Callable[..., Any] | None
    self_param: bool
    info_param: str | None
    arguments: tuple[_Argument, ...]
    complete: Completer
    complete_is_async: bool   # the completer returns an awaitable (a resolver below)
    is_async: bool            # this field's resolver or something below it awaits


class Plan:
    """One operation of one document: coerce variables, resolve the root fields, build the data.

    Several root fields are resolved one after another, in document order (graphql-core gathers
    them): a plan only answers successes, and the planned resolvers only read, so the order cannot
    change a successful answer; the first error gives the whole request to the general path."""

    def __init__(self, variables: tuple[_Variable, ...], roots: tuple[_Field, ...]) -> None:
        self.variables = variables
        self.roots = roots

    def coerce(self, given: dict[str, Any]) -> dict[str, Any]:
        """The variables' values as graphql-core would coerce them (absent ones left out)."""
        out: dict[str, Any] = {}
        for var in self.variables:
            if var.name not in given:
                if var.default is not _UNSET:
                    out[var.name] = var.default
                elif var.non_null:
                    raise Fallback
                continue
            out[var.name] = var.coerce(given[var.name])
        return out

    async def execute(self, variables: dict[str, Any], context: Any, root_value: Any) -> dict[str, Any]:
        info = PlanInfo(context, variables)
        data: dict[str, Any] = {}
        for root in self.roots:
            value = await _call(root, root_value, info, variables) if root.resolver is not None else None
            completed = root.complete(value, info)
            data[root.key] = await completed if root.complete_is_async else completed
        return data


def _kwargs(field: _Field, variables: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for arg in field.arguments:
        if arg.variable is None:
            literal = arg.literal
            kwargs[arg.python_name] = list(literal) if type(literal) is list else literal
        elif arg.variable in variables:
            value = variables[arg.variable]
            if value is None and arg.non_null:
                raise Fallback
            # a list is copied as Strawberry does: a default is one object shared by every request
            kwargs[arg.python_name] = list(value) if type(value) is list else value
        elif arg.non_null_without_default:
            raise Fallback
    return kwargs


async def _call(field: _Field, source: Any, info: PlanInfo, variables: dict[str, Any]) -> Any:
    assert field.resolver is not None
    kwargs = _kwargs(field, variables)
    if field.info_param is not None:
        kwargs[field.info_param] = info
    result = field.resolver(source, **kwargs) if field.self_param else field.resolver(**kwargs)
    if isinstance(result, Awaitable):
        result = await result
    return result


class PlanCompiler:
    """Builds plans for one Strawberry schema. `resolvers` names the resolver fields a plan may
    call ("Query.leaderboard", "Player.rank"): they must read nothing of `info` but `context`."""

    def __init__(self, schema: Schema, resolvers: frozenset[str]) -> None:
        self.schema = schema
        self.resolvers = resolvers

    def compile(self, operation: OperationDefinitionNode) -> Plan:
        if operation.operation is not OperationType.QUERY or operation.directives:
            raise Unplannable("only queries without directives")
        query_type = self.schema._schema.query_type
        assert query_type is not None
        variables = tuple(self._variable(d) for d in operation.variable_definitions or ())
        declared = {v.name: v for v in variables}
        roots: list[_Field] = []
        for selection in operation.selection_set.selections:
            if not isinstance(selection, FieldNode):
                raise Unplannable("fragments")
            root = self._field(query_type, selection, declared)
            if root.resolver is None and root.python_name:
                raise Unplannable("a root field must have a resolver (or be __typename)")
            roots.append(root)
        if not roots or len({r.key for r in roots}) != len(roots):
            raise Unplannable("a response key selected twice (graphql-core merges them)")
        return Plan(variables, tuple(roots))

    def _variable(self, definition: Any) -> _Variable:
        type_node = definition.type
        non_null = isinstance(type_node, NonNullTypeNode)
        if definition.directives:
            raise Unplannable("variable directives")
        try:
            coerce = variable_coercer(type_node, self.schema._schema)
        except UnplannableVariable as exc:
            raise Unplannable(str(exc)) from None
        default = _UNSET
        if definition.default_value is not None:
            graphql_type = type_from_ast(self.schema._schema, type_node)
            default = value_from_ast(definition.default_value, graphql_type)
            if default is Undefined:
                raise Unplannable("a default graphql-core would refuse")
        return _Variable(definition.variable.name.value, coerce, non_null, default)

    def _field(self, parent: GraphQLObjectType, node: FieldNode, declared: dict[str, _Variable]) -> _Field:
        if node.directives:
            raise Unplannable("field directives")
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name == "__typename":
            if node.arguments or node.selection_set:
                raise Unplannable("__typename takes nothing")
            type_name = parent.name
            return _Field(key, "", None, False, None, (), lambda value, info: type_name, False, False)
        graphql_field = parent.fields.get(name)
        if graphql_field is None:
            raise Unplannable(f"unknown field {name}")
        definition = (graphql_field.extensions or {}).get(STRAWBERRY_DEFINITION)
        if definition is None or definition.extensions:
            raise Unplannable("a field without its Strawberry definition, or with field extensions")
        complete, below_async = self._completer(graphql_field.type, node.selection_set, declared)
        base = definition.base_resolver
        if base is None:
            if node.arguments:
                raise Unplannable("arguments on a plain field")
            return _Field(key, definition.python_name, None, False, None, (), complete, below_async, below_async)
        if f"{parent.name}.{name}" not in self.resolvers:
            raise Unplannable(f"{parent.name}.{name} is not a planned resolver")
        if base.root_parameter is not None or base.parent_parameter is not None:
            raise Unplannable("resolvers taking root or parent")
        arguments = tuple(self._argument(graphql_field.args, a, declared) for a in node.arguments or ())
        info_param = base.info_parameter.name if base.info_parameter is not None else None
        return _Field(key, definition.python_name, base.wrapped_func, base.self_parameter is not None,
                      info_param, arguments, complete, below_async, True)

    def _argument(self, args: dict[str, Any], node: Any, declared: dict[str, _Variable]) -> _Argument:
        graphql_arg = args.get(node.name.value)
        if graphql_arg is None:
            raise Unplannable("unknown argument")
        strawberry_arg = (graphql_arg.extensions or {}).get(STRAWBERRY_DEFINITION)
        if strawberry_arg is None:
            raise Unplannable("an argument without its Strawberry definition")
        arg_type = graphql_arg.type
        inner = arg_type.of_type if isinstance(arg_type, GraphQLNonNull) else arg_type
        if isinstance(inner, GraphQLList):   # a list of leaves (Strawberry passes a copy of it)
            inner = inner.of_type.of_type if isinstance(inner.of_type, GraphQLNonNull) else inner.of_type
        if not isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            raise Unplannable("scalar and enum arguments (or lists of them) only")
        required = isinstance(arg_type, GraphQLNonNull) and graphql_arg.default_value is Undefined
        if isinstance(node.value, VariableNode):
            name = node.value.name.value
            if name not in declared:
                raise Unplannable("undeclared variable")
            return _Argument(strawberry_arg.python_name, _UNSET, name, required, isinstance(arg_type, GraphQLNonNull))
        literal = value_from_ast(node.value, arg_type)
        if literal is Undefined:
            raise Unplannable("a literal graphql-core would refuse")
        return _Argument(strawberry_arg.python_name, literal, None, required, isinstance(arg_type, GraphQLNonNull))

    def _completer(self, graphql_type: GraphQLOutputType, selection_set: SelectionSetNode | None,
                   declared: dict[str, _Variable]) -> tuple[Completer, bool]:
        if isinstance(graphql_type, GraphQLNonNull):
            inner, is_async = self._completer(graphql_type.of_type, selection_set, declared)
            return _non_null(inner, is_async), is_async
        if isinstance(graphql_type, GraphQLList):
            inner, is_async = self._completer(graphql_type.of_type, selection_set, declared)
            item = graphql_type.of_type
            item = item.of_type if isinstance(item, GraphQLNonNull) else item
            rows = None
            if not is_async and isinstance(item, GraphQLObjectType) and item.name in (ENTRY, EDGE):
                assert selection_set is not None   # _completer refused an object without one
                row_fields = self._row_fields(item, selection_set, declared)
                rows = None if row_fields is None else rows_encoder(item.name, row_fields)
            return _list(inner, is_async, rows, item.name if rows is not None else ""), is_async
        if isinstance(graphql_type, GraphQLScalarType | GraphQLEnumType):
            if selection_set is not None:
                raise Unplannable("a selection on a leaf")
            return leaf(graphql_type), False
        if not isinstance(graphql_type, GraphQLObjectType) or selection_set is None:
            raise Unplannable("abstract types")
        fields: list[_Field] = []
        for selection in selection_set.selections:
            if not isinstance(selection, FieldNode):
                raise Unplannable("fragments")
            fields.append(self._field(graphql_type, selection, declared))
        if len({f.key for f in fields}) != len(fields):
            raise Unplannable("a response key selected twice (graphql-core merges them)")
        return _object(tuple(fields)), any(f.is_async for f in fields)


    def _row_fields(self, item: GraphQLObjectType, selection_set: SelectionSetNode,
                    declared: dict[str, _Variable]) -> tuple[RowField, ...] | None:
        """The selection of a ranked row type as RowFields (an edge's node nested), or None when a
        field has a resolver (the objects are completed then)."""
        out: list[RowField] = []
        for selection in selection_set.selections:
            assert isinstance(selection, FieldNode)   # _completer refused fragments
            field = self._field(item, selection, declared)
            if field.resolver is not None:
                return None
            node = None
            if item.name == EDGE and field.python_name == "node":
                node_type = item.fields["node"].type
                node_type = node_type.of_type if isinstance(node_type, GraphQLNonNull) else node_type
                if not isinstance(node_type, GraphQLObjectType) or selection.selection_set is None:
                    return None
                node = self._row_fields(node_type, selection.selection_set, declared)
                if node is None:
                    return None
            leaf_type = item.fields[selection.name.value].type if field.python_name else None
            leaf_type = leaf_type.of_type if isinstance(leaf_type, GraphQLNonNull) else leaf_type
            exact = leaf_exact(leaf_type) if isinstance(leaf_type, GraphQLScalarType | GraphQLEnumType) else None
            out.append(RowField(field.key, field.python_name, field.complete, exact, node))
        return tuple(out)


def _non_null(inner: Completer, is_async: bool) -> Completer:
    if not is_async:
        def complete(value: Any, info: Any) -> Any:
            out = inner(value, info)
            if out is None:
                raise Fallback
            return out
        return complete

    async def complete_async(value: Any, info: Any) -> Any:
        out = await inner(value, info)
        if out is None:
            raise Fallback
        return out
    return complete_async


def _list(inner: Completer, is_async: bool, rows: RowsEncoder | None = None, kind: str = "") -> Completer:
    """A list's completer; with `rows`, a page of `kind` rows still held as the store read them
    (EntryRows) is encoded straight from them, its objects never built."""
    if rows is not None:
        def complete_rows(value: Any, info: Any) -> Any:
            if type(value) is EntryRows and value.kind == kind:
                return rows(value.rows, value.now_ms, info)
            return None if value is None else [inner(item, info) for item in value]
        return complete_rows
    if not is_async:
        def complete(value: Any, info: Any) -> Any:
            return None if value is None else [inner(item, info) for item in value]
        return complete

    async def complete_async(value: Any, info: Any) -> Any:
        return None if value is None else [await inner(item, info) for item in value]
    return complete_async


def _object(fields: tuple[_Field, ...]) -> Completer:
    plain = tuple((f.key, f.python_name, f.complete) for f in fields)
    if not any(f.is_async for f in fields):
        def complete(value: Any, info: Any) -> Any:
            if value is None:
                return None
            return {key: sub(getattr(value, attr) if attr else None, info) for key, attr, sub in plain}
        return complete

    async def complete_async(value: Any, info: Any) -> Any:
        if value is None:
            return None
        out: dict[str, Any] = {}
        variables = info.variables
        for field in fields:
            if field.resolver is not None:
                resolved = await _call(field, value, info, variables)
            elif field.python_name:
                resolved = getattr(value, field.python_name)
            else:
                resolved = None   # __typename: its completer ignores the value
            completed = field.complete(resolved, info)
            out[field.key] = await completed if field.complete_is_async else completed
        return out
    return complete_async
