"""Rejects operations whose estimated cost exceeds `api.query_cost_max`, before execution.

Cost counts the objects a query makes the server build, not its scalars: every object-valued
field costs 1, a scalar costs 0, and a field returning a page costs its page size (`first`, `n`,
`ids`, `toRank - fromRank + 1`, `above + below + 1`) times the cost of its selection. Sizes are
read from literals, from the request's variables (or their declared defaults) and through named
and inline fragments, so an alias or a variable cannot hide a page. A size that is not a known
integer counts as the page-size maximum. The largest documented page (`first: page_size_max`
with every node field) costs about 3 × page_size_max, within the default limit; several such
pages in one document are refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from strawberry.extensions import SchemaExtension

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

# Page sizes of paged fields when the argument is left out (their schema defaults).
DEFAULT_SIZES = {"leaderboard": 10, "history": 20, "rankHistory": 20, "snapshots": 20, "topChanged": 10,
                 "snapshot": 10, "around": 11}
SIZE_ARGS = ("first", "n")


class _Estimator:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any],
                 page_max: int) -> None:
        self.fragments = fragments
        self.variables = variables
        self.page_max = page_max

    def _arg(self, node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                value = arg.value
                if isinstance(value, VariableNode):
                    return self.variables.get(value.name.value)
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, ListValueNode):
                    return list(value.values)
                return value
        return None

    def _size(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            return self.page_max
        return max(1, min(value, self.page_max))

    def multiplier(self, node: FieldNode) -> int:
        for name in SIZE_ARGS:
            value = self._arg(node, name)
            if value is not None:
                return self._size(value)
        ids = self._arg(node, "ids")
        if ids is not None:
            return max(1, min(len(ids), self.page_max)) if isinstance(ids, list) else self.page_max
        lo, hi = self._arg(node, "fromRank"), self._arg(node, "toRank")
        if lo is not None or hi is not None:
            if isinstance(lo, int) and isinstance(hi, int):
                return self._size(hi - lo + 1)
            return self.page_max
        if node.name.value == "around":
            above, below = self._arg(node, "above"), self._arg(node, "below")
            return self._size((5 if above is None else above) + (5 if below is None else below) + 1) \
                if isinstance(above, int | None) and isinstance(below, int | None) else self.page_max
        return DEFAULT_SIZES.get(node.name.value, 1)

    def cost(self, selection_set: SelectionSetNode | None, seen: frozenset[str] = frozenset()) -> int:
        total = 0
        for sel in (selection_set.selections if selection_set else ()):
            if isinstance(sel, FieldNode):
                if sel.selection_set is not None:     # object-valued: it is built, and its page multiplies
                    total += 1 + self.multiplier(sel) * self.cost(sel.selection_set, seen)
            elif isinstance(sel, InlineFragmentNode):
                total += self.cost(sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:   # cycles are refused by validation anyway
                    total += self.cost(fragment.selection_set, seen | {name})
        return total


def operation_cost(document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None,
                   page_max: int) -> int:
    """The cost of the operation that would run (the named one, else every operation: the worst case)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    worst = 0
    for op in document.definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        if operation_name is not None and (op.name is None or op.name.value != operation_name):
            continue
        values: dict[str, Any] = {}
        for definition in op.variable_definitions or ():
            name = definition.variable.name.value
            if variables and name in variables:
                values[name] = variables[name]
            elif isinstance(definition.default_value, IntValueNode):
                values[name] = int(definition.default_value.value)
            elif isinstance(definition.default_value, ListValueNode):
                values[name] = list(definition.default_value.values)
        worst = max(worst, _Estimator(fragments, values, page_max).cost(op.selection_set))
    return worst


class CostLimit(SchemaExtension):
    """Runs after parsing (so it sees the document) and before validation and execution."""

    def __init__(self, cost_max: int, page_max: int) -> None:
        self.cost_max = cost_max
        self.page_max = page_max

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None:
            variables = ctx.variables if isinstance(ctx.variables, dict) else None
            cost = operation_cost(document, ctx.operation_name, variables, self.page_max)
            if cost > self.cost_max:
                raise GraphQLError(f"query cost {cost} exceeds the limit of {self.cost_max}",
                                   extensions={"code": "BAD_USER_INPUT"})
        yield





CostFunction = Callable[[Mapping[str, Any]], int]


def compile_cost(document: DocumentNode, operation_name: str | None, page_max: int) -> CostFunction:
    """`operation_cost` as a function of the request's variables, built once per prepared document.

    The document's shape never changes between requests, so only the page sizes read from
    variables are left to compute: fragments are inlined and every selection whose size is a
    literal folds into a constant. A document whose pages are all literals costs one constant."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [op for op in document.definitions if isinstance(op, OperationDefinitionNode)
                  and (operation_name is None or (op.name is not None and op.name.value == operation_name))]
    compiled = [_compile_operation(op, fragments, page_max) for op in operations]
    constants = [c for c in compiled if isinstance(c, int)]
    functions = [c for c in compiled if not isinstance(c, int)]
    floor = max(constants, default=0)
    if not functions:
        return lambda _variables: floor
    return lambda variables: max(floor, *(f(variables) for f in functions))


_Term = int | CostFunction


def _compile_operation(op: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode],
                       page_max: int) -> _Term:
    defaults: dict[str, Any] = {}
    for definition in op.variable_definitions or ():
        name = definition.variable.name.value
        if isinstance(definition.default_value, IntValueNode):
            defaults[name] = int(definition.default_value.value)
        elif isinstance(definition.default_value, ListValueNode):
            defaults[name] = list(definition.default_value.values)
    declared = frozenset(d.variable.name.value for d in op.variable_definitions or ())
    body = _Compiler(fragments, page_max).selection(op.selection_set, frozenset())
    if isinstance(body, int):
        return body

    def cost(variables: Mapping[str, Any]) -> int:
        # the values operation_cost would see: declared variables sent, else their defaults
        values = {**defaults, **{k: v for k, v in variables.items() if k in declared}}
        return body(values)

    return cost


class _Compiler:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], page_max: int) -> None:
        self.fragments = fragments
        self.page_max = page_max

    def selection(self, selection_set: SelectionSetNode | None, seen: frozenset[str]) -> _Term:
        terms: list[_Term] = []
        for sel in (selection_set.selections if selection_set else ()):
            if isinstance(sel, FieldNode):
                if sel.selection_set is not None:
                    terms.append(self.field(sel, seen))
            elif isinstance(sel, InlineFragmentNode):
                terms.append(self.selection(sel.selection_set, seen))
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    terms.append(self.selection(fragment.selection_set, seen | {name}))
        constant = sum(t for t in terms if isinstance(t, int))
        functions = [t for t in terms if not isinstance(t, int)]
        if not functions:
            return constant
        return lambda values: constant + sum(f(values) for f in functions)

    def field(self, node: FieldNode, seen: frozenset[str]) -> _Term:
        child = self.selection(node.selection_set, seen)
        if not _reads_variables(node):
            size = _Estimator(self.fragments, {}, self.page_max).multiplier(node)
            if isinstance(child, int):
                return 1 + size * child
            return lambda values: 1 + size * child(values)
        page_max, fragments = self.page_max, self.fragments

        def cost(values: Mapping[str, Any]) -> int:
            size = _Estimator(fragments, values, page_max).multiplier(node)
            return 1 + size * (child if isinstance(child, int) else child(values))

        return cost


# The arguments `_Estimator.multiplier` reads: a field whose variables feed none of them (a player's
# `id: $p`, a `board: $b`) has a constant size, folded once rather than estimated per request.
_SIZING_ARGS = frozenset({*SIZE_ARGS, "ids", "fromRank", "toRank", "above", "below"})


def _reads_variables(node: FieldNode) -> bool:
    return any(isinstance(arg.value, VariableNode) and arg.name.value in _SIZING_ARGS for arg in node.arguments or ())
