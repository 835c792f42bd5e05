"""Rejects operations whose estimated cost exceeds `api.query_cost_max`, before execution.

Cost: every field costs 1; a field returning a page costs its page size (`first`, `n`, `ids`,
`toRank - fromRank + 1`, `above + below + 1`) times the cost of its selection. Literal arguments
and variables are both read; unknown sizes count as the page-size maximum."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import AddValidationRules

from graphql import (
    FieldNode,
    GraphQLError,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)

DEFAULT_PAGE = 10


def _arg(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in node.arguments or ():
        if arg.name.value == name:
            value = arg.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, ListValueNode):
                return list(value.values)
    return None


def _multiplier(node: FieldNode, variables: dict[str, Any], page_max: int) -> int:
    for name in ("first", "n"):
        v = _arg(node, name, variables)
        if v is not None:
            return max(1, min(int(v), page_max)) if isinstance(v, int) else page_max
    ids = _arg(node, "ids", variables)
    if ids is not None:
        return max(1, len(ids)) if isinstance(ids, list) else page_max
    lo, hi = _arg(node, "fromRank", variables), _arg(node, "toRank", variables)
    if isinstance(lo, int) and isinstance(hi, int):
        return max(1, min(hi - lo + 1, page_max))
    above, below = _arg(node, "above", variables), _arg(node, "below", variables)
    if node.name.value == "around":
        return (above if isinstance(above, int) else 5) + (below if isinstance(below, int) else 5) + 1
    return 1


def cost_limit(cost_max: int, page_max: int) -> AddValidationRules:
    class CostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.variables: dict[str, Any] = {}

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = self._selection_cost(node.selection_set)
            if cost > cost_max:
                self.report_error(GraphQLError(
                    f"query cost {cost} exceeds the limit of {cost_max}", nodes=[node],
                    extensions={"code": "BAD_USER_INPUT"}))

        def _selection_cost(self, selection_set: Any) -> int:
            total = 0
            for sel in getattr(selection_set, "selections", ()) or ():
                if isinstance(sel, FieldNode):
                    inner = self._selection_cost(sel.selection_set) if sel.selection_set else 0
                    total += 1 + _multiplier(sel, self.variables, page_max) * inner
                else:
                    total += self._selection_cost(getattr(sel, "selection_set", None))
            return total

    return AddValidationRules([CostRule])
