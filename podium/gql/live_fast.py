"""The subscription fast path: each tick's message is executed and serialized once per
(update, selection shape) and the same text is written to every subscriber.

Strawberry runs a subscription's field selection and JSON encoding for every subscriber and event;
with thousands of subscribers of one top-n that is the whole CPU budget. Here the first message of
a subscription still goes through Strawberry (validation, extensions, auth, errors); after that the
resolver writes the shared frame itself to the websocket of its operation, found through a context
variable that our protocol handlers (`ws_handlers`) set in each operation's task. Without such a
channel (e.g. `schema.subscribe` in-process) every update is yielded to Strawberry as usual.

The payload is what Strawberry would send: graphql-core's `execute` over the same operation with
the update object as root value, which is exactly how subscription events are mapped
(`resolve=lambda event: event`)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from strawberry.types import Info

from graphql import DocumentNode, ExecutionResult, GraphQLResolveInfo, Undefined, execute, print_ast
from podium.fanout import PayloadCache


@dataclass(frozen=True, slots=True)
class Channel:
    """Where one operation's frames go: `prefix + payload + "}"` is a complete protocol message."""

    send_text: Callable[[str], Awaitable[None]]
    prefix: str


CHANNEL: ContextVar[Channel | None] = ContextVar("podium_live_channel", default=None)


def _operation(info: Info[Any, Any]) -> tuple[DocumentNode, tuple[str, str]]:
    """The subscription's operation as a document, and what besides the update decides its payload:
    the printed operation (with fragments) and the variables."""
    raw = info._raw_info
    doc = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
    variables = orjson.dumps(_inputs(raw), option=orjson.OPT_SORT_KEYS, default=str).decode()
    return doc, (print_ast(doc), variables)


def _inputs(raw: GraphQLResolveInfo[Any]) -> dict[str, Any]:
    """The operation's variables as the client sent them, for `execute` to coerce again. graphql-core
    3.3 types `variable_values` as its coerced `VariableValues` (which `execute` cannot take), while a
    subscription resolver is handed the request's plain dict: accept both."""
    values: object = raw.variable_values
    if isinstance(values, dict):
        return values
    return {name: source.value for name, source in raw.variable_values.sources.items()
            if source.value is not Undefined}


async def _render(info: Info[Any, Any], doc: DocumentNode, root: object) -> str | None:
    raw = info._raw_info
    result: Any = execute(raw.schema, doc, root_value=root, context_value=info.context,
                          variable_values=_inputs(raw),
                          operation_name=raw.operation.name.value if raw.operation.name else None)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    if result.errors:
        return None                    # the normal path reports them
    return orjson.dumps({"data": result.data}).decode()


class Keyed(Protocol):
    @property
    def key(self) -> tuple[object, ...]: ...


U = TypeVar("U", bound=Keyed)


async def deliver(
    info: Info[Any, Any], updates: AsyncGenerator[U, None], to_object: Callable[[U], object], cache: PayloadCache,
) -> AsyncIterator[object]:
    """Yields the first update through Strawberry, then writes shared frames for the rest."""
    channel = CHANNEL.get()
    first = True
    operation: tuple[DocumentNode, tuple[str, str]] | None = None
    async with aclosing(updates):   # the fan-out counts this subscriber until its generator closes
        async for update in updates:
            if first or channel is None:
                first = False
                yield to_object(update)
                continue
            if operation is None:
                operation = _operation(info)
            doc, shape = operation
            key = (*update.key, *shape)
            text = cache.get(key)
            if text is None:
                text = await _render(info, doc, to_object(update))
                if text is None:
                    yield to_object(update)
                    continue
                cache.put(key, text)
            await channel.send_text(channel.prefix + text + "}")
