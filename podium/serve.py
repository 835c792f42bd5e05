"""Serving an ASGI app with Hypercorn until a shutdown event is set."""

from __future__ import annotations

import asyncio
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from podium import serve_idle

WS_MESSAGE_BYTES_MAX = 65_536   # the default of `api.ws_message_bytes_max`


def hypercorn_config(host: str, port: int, ws_message_bytes_max: int = WS_MESSAGE_BYTES_MAX,
                     backlog: int | None = None) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    if backlog is not None:
        config.backlog = backlog   # Hypercorn's 100 dropped SYNs in a connect storm (clients retried after 1 s, 3 s…)
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.graceful_timeout = 3.0
    config.keep_alive_timeout = 75.0
    config.websocket_ping_interval = 20.0
    # Hypercorn closes a socket (1009) whose message is larger: nothing is buffered beyond it
    config.websocket_max_message_size = ws_message_bytes_max
    return config


async def serve(app: Any, host: str, port: int, stop: asyncio.Event,
                ws_message_bytes_max: int = WS_MESSAGE_BYTES_MAX, backlog: int | None = None,
                lean_idle: bool = True) -> None:
    """`lean_idle`: Hypercorn's idle task per connection becomes a timer (podium.serve_idle)."""
    if lean_idle:
        serve_idle.install()
    else:
        serve_idle.uninstall()
    await hypercorn_serve(app, hypercorn_config(host, port, ws_message_bytes_max, backlog), shutdown_trigger=stop.wait)
