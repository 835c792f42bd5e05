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

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLResolveInfo,
    GraphQLSchema,
    Undefined,
    execute,
    print_ast,
)
from podium.fanout import FanOut, PayloadCache, RankUpdate, TopUpdate
from podium.fanout_push import PushSink, Socket
from podium.gql.ws_raw import frame


@dataclass(frozen=True, slots=True)
class Channel:
    """Where one operation's frames go: `prefix + payload + "}"` is a complete protocol message.
    `raw()`: the socket's raw frame writer once accepted (podium.gql.ws_raw), None without one."""

    send_text: Callable[[str], Awaitable[None]]
    prefix: str
    raw: Callable[[], Socket | None] = lambda: None


_SHAPES: dict[tuple[str, str, str], tuple[str, str, str]] = {}
SHAPES_MAX = 10_000


def shape_of(key: tuple[str, str, str]) -> object:
    """One object per distinct (operation, variables, prefix): sinks compare shapes by identity."""
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) >= SHAPES_MAX:
            _SHAPES.clear()     # only sharing is lost: a shape seen again is simply a new object
        shape = _SHAPES[key] = key
    return shape


CHANNEL: ContextVar[Channel | None] = ContextVar("podium_live_channel", default=None)


_PRINTED: dict[int, tuple[object, DocumentNode, str]] = {}   # id(operation node) -> (node, document, printed)


def _operation(info: Info[Any, Any]) -> tuple[DocumentNode, tuple[str, str]]:
    """The subscription's operation as a document, and what besides the update decides its payload:
    the printed operation (with fragments) and the variables. The printing is kept per operation
    node: the operation cache hands every subscriber of one document the same node, and printing
    it per subscriber was a visible share of a connect storm."""
    raw = info._raw_info
    variables = orjson.dumps(_inputs(raw), option=orjson.OPT_SORT_KEYS, default=str).decode()
    known = _PRINTED.get(id(raw.operation))
    if known is not None and known[0] is raw.operation and not raw.fragments:
        return known[1], (known[2], variables)
    doc = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
    printed = print_ast(doc)
    if not raw.fragments:
        if len(_PRINTED) >= SHAPES_MAX:
            _PRINTED.clear()
        _PRINTED[id(raw.operation)] = (raw.operation, doc, printed)
    return doc, (printed, variables)


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
    return await render_payload(raw.schema, doc, info.context, _inputs(raw),
                                raw.operation.name.value if raw.operation.name else None, root)


async def render_payload(schema: GraphQLSchema, doc: DocumentNode, context: Any, variables: dict[str, Any],
                         operation_name: str | None, root: object) -> str | None:
    """The `payload` of one subscription message: `doc`'s selection over the update object `root`,
    as JSON text; None when it renders with errors (the normal path reports them)."""
    result: Any = execute(schema, doc, root_value=root, context_value=context, variable_values=variables,
                          operation_name=operation_name)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    if result.errors:
        return None
    return orjson.dumps({"data": result.data}).decode()


class Keyed(Protocol):
    @property
    def key(self) -> tuple[object, ...]: ...


U = TypeVar("U", bound=Keyed)


async def deliver(
    info: Info[Any, Any], updates: AsyncGenerator[U, None], to_object: Callable[[U], object], cache: PayloadCache,
    hub: FanOut | None = None,
) -> AsyncIterator[object]:
    """Yields the first update through Strawberry, then writes shared frames for the rest: from
    the fan-out's tick itself when the socket has a raw writer and `hub` pushes, else from here."""
    channel = CHANNEL.get()
    first = True
    operation: tuple[DocumentNode, tuple[str, str]] | None = None
    async with aclosing(updates):   # the fan-out counts this subscriber until its generator closes
        async for update in updates:
            if first or channel is None:
                first = False
                socket = channel.raw() if channel is not None and hub is not None else None
                if socket is not None and hub is not None and isinstance(update, TopUpdate | RankUpdate):
                    assert channel is not None
                    # the first message too is one shared frame per (update, shape), written raw: at a
                    # connect storm, executing and sending it through Strawberry per subscriber was a
                    # third of the server's CPU (py-spy, 10,000 subscribers)
                    operation = _operation(info)
                    data = await _first_frame(info, operation, update, to_object, cache, channel.prefix)
                    if data is not None:
                        socket.write(data)
                        await _pushed(info, hub, update, socket, to_object, cache, channel.prefix, operation)
                        return
                yield to_object(update)
                if socket is not None and hub is not None and isinstance(update, TopUpdate | RankUpdate):
                    await _pushed(info, hub, update, socket, to_object, cache, channel.prefix)  # type: ignore[union-attr]
                    return
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


async def _first_frame(info: Info[Any, Any], operation: tuple[DocumentNode, tuple[str, str]],
                       update: TopUpdate | RankUpdate, to_object: Callable[[Any], object],
                       cache: PayloadCache, prefix: str) -> bytes | None:
    """The complete frame of a subscription's first message, shared by every subscriber that starts
    at the same update with the same operation and protocol; None when it renders with errors
    (then Strawberry sends it, errors and all)."""
    doc, shape = operation
    frame_key = (*update.key, *shape, prefix)
    data = cache.get(frame_key)
    if data is not None:
        return data  # type: ignore[no-any-return]
    key = (*update.key, *shape)
    text = cache.get(key)
    if text is None:
        text = await _render(info, doc, to_object(update))
        if text is None:
            return None
        cache.put(key, text)
    data = frame((prefix + text + "}").encode())
    cache.put(frame_key, data)
    return data


async def _pushed(info: Info[Any, Any], hub: FanOut, first: TopUpdate | RankUpdate, socket: Socket,
                  to_object: Callable[[Any], object], cache: PayloadCache, prefix: str,
                  operation: tuple[DocumentNode, tuple[str, str]] | None = None) -> None:
    """Hands the subscriber to the fan-out's tick and waits until its socket closes (Strawberry
    then cancels this task) or a frame cannot be rendered (the error goes the normal way)."""
    doc, shape = operation or _operation(info)
    frame_key = (*shape, prefix)

    async def render(update: Any) -> bytes:
        # the text per (update, operation) is shared across protocols; sockets of one shape and
        # protocol share the whole frame within the tick (podium.fanout_push)
        key = (*update.key, *shape)
        text = cache.get(key)
        if text is None:
            text = await _render(info, doc, to_object(update))
            if text is None:
                raise RuntimeError("a subscription frame could not be rendered")
            cache.put(key, text)
        return frame((prefix + text + "}").encode())

    sink = PushSink(socket, shape_of(frame_key), render, first.seq)
    hub.attach(first, sink)
    try:
        await sink.done
    finally:
        hub.detach(first, sink)
