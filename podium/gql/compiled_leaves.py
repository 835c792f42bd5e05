"""The leaves of a compiled plan (`podium.gql.compiled`): which variable values it takes as they
are, and each scalar or enum field's completer (graphql-core's `serialize`, skipped when it would
return the value unchanged). `Fallback` is how a plan gives a request to the general path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql.type.scalars import serialize_boolean, serialize_int, serialize_string

from graphql import GraphQLEnumType, GraphQLScalarType
from podium.model import SCORE_ABS_MAX

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class Fallback(Exception):
    """This request is not a plain success the plan can answer: the general path answers it."""


def variable_ok(kind: str, value: object) -> bool:
    """The values graphql-core would coerce unchanged; anything else is left to it (Fallback)."""
    if kind == "String":
        return type(value) is str
    if kind == "Boolean":
        return type(value) is bool
    if kind == "Int":
        return type(value) is int and INT32_MIN <= value <= INT32_MAX
    return type(value) is int and -SCORE_ABS_MAX <= value <= SCORE_ABS_MAX  # Long


Completer = Callable[[Any, Any], Any]   # (value, info) -> JSON-ready value, or an awaitable of one


# Values a scalar's `serialize` returns unchanged (graphql-core's serialize_int, _string and
# _boolean; Long's `int`): a leaf of exactly that type skips the call, anything else is serialized.
_EXACT: dict[Any, type] = {serialize_string: str, serialize_boolean: bool, int: int}


def leaf(named: GraphQLScalarType | GraphQLEnumType) -> Completer:
    serialize = named.serialize

    def complete(value: Any, info: Any) -> Any:
        if value is None:
            return None
        out = serialize(value)
        if out is None:   # graphql-core reports it as an error
            raise Fallback
        return out

    if serialize is serialize_int:
        def complete_int(value: Any, info: Any) -> Any:
            return value if type(value) is int and INT32_MIN <= value <= INT32_MAX else complete(value, info)
        return complete_int
    exact = _EXACT.get(serialize)
    if exact is not None:
        def complete_exact(value: Any, info: Any) -> Any:
            return value if type(value) is exact else complete(value, info)
        return complete_exact
    return complete


def leaf_exact(named: GraphQLScalarType | GraphQLEnumType) -> tuple[type, bool] | None:
    """The Python type a leaf's value passes unchanged as (and whether it must also fit 32 bits),
    or None: what `leaf` checks before calling `serialize`, for code that inlines the check."""
    if named.serialize is serialize_int:
        return int, True
    exact = _EXACT.get(named.serialize)
    return None if exact is None else (exact, False)
