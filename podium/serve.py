"""Serving an ASGI app with Hypercorn until a shutdown event is set."""

from __future__ import annotations

import asyncio
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.graceful_timeout = 3.0
    config.keep_alive_timeout = 75.0
    config.websocket_ping_interval = 20.0
    return config


async def serve(app: Any, host: str, port: int, stop: asyncio.Event) -> None:
    await hypercorn_serve(app, hypercorn_config(host, port), shutdown_trigger=stop.wait)
