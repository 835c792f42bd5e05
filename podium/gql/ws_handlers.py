"""Strawberry's websocket protocol handlers, with a fast-path channel per operation (see live_fast).

Each operation runs in its own task; setting the context variable there gives that operation's
resolver, and only it, a way to write pre-serialized frames to its socket."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from podium.gql.live_fast import CHANNEL, Channel


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

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        prefix = '{"id":' + orjson.dumps(operation.id).decode() + ',"type":"next","payload":'
        CHANNEL.set(Channel(_sender(self.websocket), prefix))
        await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[dict[str, Any], None]):
    """graphql-ws (subscriptions-transport-ws): frames are `{"type":"data","id":…,"payload":…}`."""

    async def handle_async_results(self, operation_id: str, query: str, operation_name: str | None,
                                   variables: dict[str, object] | None) -> None:
        prefix = '{"type":"data","id":' + orjson.dumps(operation_id).decode() + ',"payload":'
        CHANNEL.set(Channel(_sender(self.websocket), prefix))
        await super().handle_async_results(operation_id, query, operation_name, variables)
