"""Strawberry's websocket protocol handlers, with a fast-path channel per operation (see live_fast).

Each operation runs in its own task; setting the context variable there gives that operation's
resolver, and only it, a way to write pre-serialized frames to its socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from podium.gql.live_direct import LiveDirect, LiveOperation
from podium.gql.live_fast import CHANNEL, Channel
from podium.gql.live_subscribe import LiveSchema, LiveSubscribe
from podium.gql.ws_raw import RawSocket, frame, raw_socket

log = logging.getLogger("podium.gql.ws")

# The acknowledgement every socket gets, as one pre-encoded frame: written raw it skips the ASGI
# send chain (orjson, Starlette, the middleware's send wrappers, wsproto) once per connection.
ACK = {"type": "connection_ack"}
ACK_FRAME = frame(orjson.dumps(ACK))


class HandshakeHeaders(Mapping[str, str]):
    """A websocket handshake's headers for Strawberry's origin check, read straight from the ASGI
    scope. Starlette's `Headers.get` of a missing name raises and catches a KeyError; the check
    asks for two names a non-browser client never sends (`origin`, `sec-fetch-site`): 21 µs per
    handshake on a loaded machine, 3 µs here (about 2% of a connect's server CPU). Names are
    matched as ASGI gives them (lower-case); the first of repeated headers is the value, as
    Starlette's."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, key: str, default: Any = None) -> Any:
        name = key.lower().encode("latin-1")
        for k, v in self.raw:
            if k == name:
                return v.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return str(value)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k.decode("latin-1") for k, _ in self.raw))

    def __len__(self) -> int:
        return len({k for k, _ in self.raw})


def _with_live(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The handler's schema, wrapped so that known live subscriptions start past Strawberry's
    per-operation machinery when the view has a `live` path (podium.gql.live_subscribe)."""
    live = getattr(kwargs.get("view"), "live", None)
    if live is not None and "schema" in kwargs:
        kwargs["schema"] = LiveSchema(kwargs["schema"], live)
    return kwargs


def _raw(adapter: Any) -> Any:
    ws = adapter.ws

    def raw() -> RawSocket | None:
        return raw_socket(ws.scope)

    return raw


async def _send(adapter: Any, message: Any) -> None:
    """`message` to the socket: the bare acknowledgement raw when the socket has a raw writer,
    anything else (and everything without one) through the adapter as Strawberry sends it."""
    if message == ACK:
        socket = raw_socket(adapter.ws.scope)
        if socket is not None and not socket.closing():
            socket.write(ACK_FRAME)
            return
    await adapter.send_json(message)


def _sender(adapter: Any) -> Any:
    ws = adapter.ws  # strawberry.asgi's adapter over the Starlette WebSocket

    async def send_text(text: str) -> None:
        try:
            await ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    return send_text


class TransportWSHandler(BaseGraphQLTransportWSHandler[dict[str, Any], None]):
    """graphql-transport-ws: frames are `{"id":…,"type":"next","payload":…}`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**_with_live(kwargs))
        self._init_timer: asyncio.TimerHandle | None = None
        self._live: dict[str, LiveOperation] = {}   # operations started as push sinks (podium.gql.live_direct)

    def on_request_accepted(self) -> None:
        """Strawberry starts a task per socket here that sleeps out `connection_init_wait_timeout`
        and is cancelled at `connection_init`. A timer handle waits the same without a task (a task,
        a sleep future and a cancellation per connect, at a connect storm); only a socket that does
        not initialise in time gets the task that closes it (4408), as before."""
        self._init_timer = asyncio.get_running_loop().call_later(
            self.connection_init_wait_timeout.total_seconds(), self._init_timed_out)

    def _init_timed_out(self) -> None:
        if self.connection_init_received or self.connection_init_timeout_task is not None:
            return
        task = asyncio.get_running_loop().create_task(self._close_uninitialised())
        self.connection_init_timeout_task = task       # cancelled by a late connection_init and by shutdown
        task.add_done_callback(self._task_done)

    async def _close_uninitialised(self) -> None:
        try:
            self.connection_timed_out = True
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")
        except Exception as error:  # noqa: BLE001 - logged, as Strawberry's timeout task does
            await self.handle_task_exception(error)

    async def handle_connection_init(self, message: Any) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
        await super().handle_connection_init(message)

    async def shutdown(self) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
        await super().shutdown()

    async def send_message(self, message: Any) -> None:
        await _send(self.websocket, message)

    async def handle_message(self, message: Any) -> None:
        """Strawberry's dispatch, after refusing (4400) a message it would index without checking:
        not an object, a `type` that is not a string, a `subscribe` or `complete` whose id is not a
        string, a `subscribe` whose payload is not an object with a string `query`. (It raised
        TypeError on those: an ASGI error and a connection dropped without a close code.)"""
        if not _transport_message_ok(message):
            await self.handle_invalid_message("Failed to parse message")
            return
        await super().handle_message(message)

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        CHANNEL.set(Channel(_sender(self.websocket), _prefix(operation.id), _raw(self.websocket)))
        await super().run_operation(operation)

    async def handle_subscribe(self, message: Any) -> None:
        """A live subscription the direct path accepts starts in a task that ends once its sink is
        attached (podium.gql.live_direct); the protocol's checks before it are Strawberry's, in
        its order. Anything else, and whatever the direct path declines, runs as Strawberry runs it."""
        paths = self._direct()
        payload = message.get("payload")
        if (paths is None or not self.connection_acknowledged or not isinstance(payload, dict)
                or not isinstance(message.get("id"), str) or message["id"] in self.operations
                or (self.max_subscriptions_per_connection is not None
                    and len(self.operations) >= self.max_subscriptions_per_connection)):
            await super().handle_subscribe(message)
            return
        live, direct = paths
        query, variables, name = payload.get("query"), payload.get("variables"), payload.get("operationName")
        plan = live.plan(query, name, variables)
        if plan is None or not isinstance(query, str):
            await super().handle_subscribe(message)
            return
        operation: Operation[Any, Any] = Operation(self, message["id"], query, variables, name)
        operation.task = asyncio.get_running_loop().create_task(self._start_direct(direct, operation, plan))
        operation.task.add_done_callback(self._task_done)
        self.operations[operation.id] = operation

    def _direct(self) -> tuple[LiveSubscribe, LiveDirect] | None:
        """The view's live and direct paths, when both are on (a test switches `live` off for both)."""
        live, direct = getattr(self.view, "live", None), getattr(self.view, "live_direct", None)
        if not isinstance(live, LiveSubscribe) or not isinstance(direct, LiveDirect):
            return None
        return live, direct

    async def _start_direct(self, direct: LiveDirect, operation: Operation[Any, Any], plan: Any) -> None:
        socket = _raw(self.websocket)()
        started = None
        if socket is not None and not socket.closing():
            started = await direct.open(plan, operation.variables, self.context, socket, _prefix(operation.id),
                                        operation.operation_name)
        if started is None:
            await self.run_operation(operation)
            return
        if self.operations.get(operation.id) is not operation:   # completed while it started
            started.close()
            return
        self._live[operation.id] = started
        started.sink.done.add_done_callback(lambda done: self._direct_ended(operation, started, done))

    def _direct_ended(self, operation: Operation[Any, Any], started: LiveOperation, done: asyncio.Future[None]) -> None:
        """The fan-out ended the sink (its socket is closing, or a frame failed to render): the
        operation is over; a render failure is reported to the client as the operation's error."""
        if self._live.get(operation.id) is not started:
            return      # closed by `complete` or by the socket's end
        del self._live[operation.id]
        started.close()
        error = None if done.cancelled() else done.exception()
        if self.operations.get(operation.id) is operation:
            if error is None:
                del self.operations[operation.id]
            else:   # logged, and coded as the general path codes an unexpected resolver error
                log.error("a live subscription frame failed", exc_info=error)
                task = asyncio.get_running_loop().create_task(operation.send_operation_message(
                    {"id": operation.id, "type": "error",
                     "payload": [{"message": "internal error", "extensions": {"code": "INTERNAL"}}]}))
                task.add_done_callback(self._task_done)

    async def cleanup_operation(self, operation_id: str) -> None:
        started = self._live.pop(operation_id, None)
        if started is not None:
            started.close()
        await super().cleanup_operation(operation_id)


def _transport_message_ok(message: Any) -> bool:
    """The shape Strawberry's graphql-transport-ws handler indexes without checking."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    if message["type"] in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        return False
    if message["type"] == "subscribe":
        payload = message.get("payload")
        return isinstance(payload, dict) and isinstance(payload.get("query"), str)
    return True


def _prefix(operation_id: str) -> str:
    return '{"id":' + orjson.dumps(operation_id).decode() + ',"type":"next","payload":'


class LegacyWSHandler(BaseGraphQLWSHandler[dict[str, Any], None]):
    """graphql-ws (subscriptions-transport-ws): frames are `{"type":"data","id":…,"payload":…}`.

    Strawberry's legacy handler waits forever for `connection_init` and indexes whatever JSON value
    arrives; this one closes a socket that does not initialise within the view's
    `connection_init_wait_timeout` (4408, as graphql-transport-ws does) and one that sends a
    message that is not an object with a string `type` (4400)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**_with_live(kwargs))

    async def send_message(self, message: Any) -> None:
        await _send(self.websocket, message)

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_if_not_initialised())
        try:
            await super().handle()
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _close_if_not_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            with contextlib.suppress(Exception):   # the peer may be gone already
                await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        if not _legacy_message_ok(message):
            await self.websocket.close(code=4400, reason="malformed message")
            return
        await super().handle_message(message)

    async def handle_async_results(self, operation_id: str, query: str, operation_name: str | None,
                                   variables: dict[str, object] | None) -> None:
        prefix = '{"type":"data","id":' + orjson.dumps(operation_id).decode() + ',"payload":'
        CHANNEL.set(Channel(_sender(self.websocket), prefix, _raw(self.websocket)))
        await super().handle_async_results(operation_id, query, operation_name, variables)


def _legacy_message_ok(message: Any) -> bool:
    """The shape Strawberry's legacy handler indexes without checking."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    if message["type"] in ("start", "stop") and not isinstance(message.get("id"), str):
        return False
    if message["type"] == "start":
        payload = message.get("payload")
        return (isinstance(payload, dict) and isinstance(payload.get("query"), str)
                and isinstance(payload.get("variables"), dict | None)
                and isinstance(payload.get("operationName"), str | None))
    return True
