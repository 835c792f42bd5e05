"""Strawberry's resolver decorators with their types kept.

Called with options only, `strawberry.field(description=…)` (and `mutation`, `subscription`) is
declared to return `Any`, so under mypy strict every resolver it decorates would become untyped.
These return what Strawberry returns and tell the type checker the resolver keeps its signature,
which is how the schema's own code calls resolvers (`await self.entry(info, board)`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def field(*, description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.field(description=description))


def mutation(*, description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.mutation(description=description))


def subscription(*, description: str) -> Callable[[F], F]:
    return cast("Callable[[F], F]", strawberry.subscription(description=description))
