"""Hypercorn's idle-connection timeout as one timer handle per connection instead of two tasks.

Why: Hypercorn starts an idle task per accepted connection before it reads the first request
(`TCPServer._idle_timeout`: a task running `asyncio.wait_for(context.terminated.wait(),
keep_alive_timeout)`, which makes a second task and a timer) and cancels and awaits both as soon as
the request arrives. In a connect storm of 10,000 websockets that was about 55 us of a ~700 us
connect (py-spy: `_idle_timeout` and the single task's restart/stop, 5-6% of the samples), for a
timeout that almost never fires. `IdleTimer` keeps the behaviour: a connection left idle (accepted
without a request yet, or between keep-alive requests) is closed `keep_alive_timeout` later, and
when the worker terminates, every idle connection is closed at once (one watcher task per worker,
not per connection). `install()` makes Hypercorn's asyncio worker build its connections with it;
a Hypercorn whose shape differs is left as it is."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer


class IdleTimer:
    """Hypercorn's `SingleTask` shape (`restart`, `stop`) for `TCPServer.idle_task`: a timer handle
    while the connection is idle, nothing while a request or a websocket is in progress."""

    __slots__ = ("__weakref__", "handle", "server")

    def __init__(self, server: Any) -> None:
        self.server = server
        self.handle: asyncio.TimerHandle | None = None

    async def restart(self, task_group: Any, action: Any) -> None:
        """The connection is idle from now (Hypercorn passes its `_idle_timeout` as `action`)."""
        self._cancel()
        server = self.server
        if server.context.terminated.is_set():
            self.close_connection()
            return
        self.handle = server.loop.call_later(server.config.keep_alive_timeout, self._expired)
        _idle_of(server.context, server.loop).add(self)

    async def stop(self) -> None:
        """A request or a websocket is in progress, or the connection closed."""
        self._cancel()

    def _cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
            idle = _IDLE.get(self.server.context)
            if idle is not None:
                idle.timers.discard(self)

    def _expired(self) -> None:
        self.handle = None
        self.close_connection()

    def close_connection(self) -> None:
        """Hypercorn's close of an idle connection, in a task of the connection's own task group
        (the connection's `run` awaits it); a group already finished means it is closing anyway."""
        self._cancel()
        close = self.server._initiate_server_close()
        try:
            self.server._task_group._task_group.create_task(close)
        except (AttributeError, RuntimeError):
            close.close()


class _Idle:
    """A worker's idle connections, closed at once when it terminates (one task per worker)."""

    def __init__(self, context: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.timers: weakref.WeakSet[IdleTimer] = weakref.WeakSet()
        self.watcher = loop.create_task(self._close_on_terminated(context))

    def add(self, timer: IdleTimer) -> None:
        self.timers.add(timer)

    async def _close_on_terminated(self, context: Any) -> None:
        await context.terminated.wait()
        for timer in list(self.timers):
            timer.close_connection()


# a Hypercorn WorkerContext -> its idle connections
_IDLE: weakref.WeakKeyDictionary[Any, _Idle] = weakref.WeakKeyDictionary()


def _idle_of(context: Any, loop: asyncio.AbstractEventLoop) -> _Idle:
    idle = _IDLE.get(context)
    if idle is None or idle.watcher.get_loop() is not loop:
        idle = _IDLE[context] = _Idle(context, loop)
    return idle


class LeanTCPServer(TCPServer):
    """Hypercorn's connection with an `IdleTimer` in place of its idle task."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_task = IdleTimer(self)  # type: ignore[assignment]


def install() -> bool:
    """Hypercorn's asyncio worker (`hypercorn.asyncio.serve`, its worker processes) builds its
    connections as `LeanTCPServer` from now on, in this process; idempotent. False when Hypercorn
    is not the shape this was written against (nothing is changed then)."""
    current = getattr(hypercorn_run, "TCPServer", None)
    if current is LeanTCPServer:
        return True
    if current is not TCPServer or not all(
        hasattr(TCPServer, name) for name in ("_idle_timeout", "_initiate_server_close", "protocol_send")
    ):
        return False
    setattr(hypercorn_run, "TCPServer", LeanTCPServer)  # noqa: B010 (not an exported name)
    return True


def uninstall() -> None:
    """Back to Hypercorn's own idle task (tests, A/B runs)."""
    if getattr(hypercorn_run, "TCPServer", None) is LeanTCPServer:
        setattr(hypercorn_run, "TCPServer", TCPServer)  # noqa: B010
