"""A compiled plan's variables (`podium.gql.compiled`): each declared variable becomes one function
from its JSON value to the value graphql-core would coerce it to, built once per document.

Only what graphql-core would take unchanged (or map one to one) is coerced here: the scalars
String, Int, Boolean and Long as they are; an enum's name through the schema's own `parse_value`
(Strawberry's gives the Python enum member the resolver expects); a list of those, or a single
item where a list is declared (graphql-core wraps it). Anything else - a value of another JSON
type, an unknown enum name, a null where the schema forbids one - raises `Fallback`, and the
general path answers with its usual message and `extensions.code`. Other types (input objects,
custom scalars, nested lists) are `Unplannable`: the document keeps the fast path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql.pyutils import Undefined

from graphql import (
    GraphQLEnumType,
    GraphQLSchema,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    TypeNode,
)
from podium.gql.compiled_leaves import Fallback, variable_ok

Coerce = Callable[[Any], Any]   # a variable's JSON value (None included) -> its coerced value
PLAIN_SCALARS = frozenset({"String", "Int", "Boolean", "Long"})


class UnplannableVariable(Exception):
    """A variable of a type a plan does not coerce."""


def variable_coercer(type_node: TypeNode, schema: GraphQLSchema) -> Coerce:
    """The coercion of a variable declared as `type_node` (the outer non-null is checked here too)."""
    if isinstance(type_node, NonNullTypeNode):
        inner = _nullable(type_node.type, schema)

        def non_null(value: Any) -> Any:
            if value is None:
                raise Fallback
            return inner(value)
        return non_null
    return _nullable(type_node, schema)


def _nullable(type_node: TypeNode, schema: GraphQLSchema) -> Coerce:
    if isinstance(type_node, ListTypeNode):
        item_node = type_node.type
        item_non_null = isinstance(item_node, NonNullTypeNode)
        named = item_node.type if isinstance(item_node, NonNullTypeNode) else item_node
        if not isinstance(named, NamedTypeNode):
            raise UnplannableVariable("lists of lists")
        item = _named(named, schema)

        def coerce_item(value: Any) -> Any:
            if value is None:
                if item_non_null:
                    raise Fallback
                return None
            return item(value)

        def coerce_list(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is list:
                return [coerce_item(v) for v in value]
            return [coerce_item(value)]   # graphql-core's input coercion wraps a single item
        return coerce_list
    assert isinstance(type_node, NamedTypeNode)
    named_coerce = _named(type_node, schema)

    def coerce_named(value: Any) -> Any:
        return None if value is None else named_coerce(value)
    return coerce_named


def _named(node: NamedTypeNode, schema: GraphQLSchema) -> Coerce:
    """The coercion of a non-null value of a named type."""
    name = node.name.value
    if name in PLAIN_SCALARS:
        def scalar(value: Any) -> Any:
            if variable_ok(name, value):
                return value
            raise Fallback
        return scalar
    graphql_type = schema.get_type(name)
    if not isinstance(graphql_type, GraphQLEnumType):
        raise UnplannableVariable(f"variables of type {name}")
    parse = graphql_type.parse_value

    def enum(value: Any) -> Any:
        if type(value) is not str:
            raise Fallback
        try:
            out = parse(value)
        except Exception:  # noqa: BLE001 - an unknown name: graphql-core's error, from the general path
            raise Fallback from None
        if out is Undefined or out is None:
            raise Fallback
        return out
    return enum
