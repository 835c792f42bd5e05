"""Push delivery: the fan-out tick writes each subscriber's frame itself, in one pass over the
watch's sockets, instead of waking one task per subscriber.

A push subscriber (a `PushSink`) is a socket plus what it last saw (tick number and, for a top, that
tick's entries). Per tick and per (shape, tick seen) one frame is rendered and written to every
socket that saw that tick; a caught-up subscriber gets the shared diff, one behind by more gets one
coalesced diff from what it saw. A socket whose unsent bytes exceed `push_buffer_bytes_max` is a
slow consumer: it is skipped (counted as coalesced) and gets the latest diff once it has drained,
never a backlog. A tick that runs past `tick_ms` stops writing; the subscribers it did not reach are
caught up by the next tick with one coalesced diff, so one slow pass never queues work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from podium.clock import Clock
from podium.model import RankedEntry

YIELD_EVERY = 256   # sockets written between two yields to the event loop (handshakes keep flowing)


class Socket(Protocol):
    def write(self, data: bytes) -> None: ...
    def buffered(self) -> int: ...
    def closing(self) -> bool: ...


@dataclass(eq=False, slots=True)
class PushSink:
    socket: Socket
    shape: object                               # sinks with the same shape (identity) share frames
    render: Callable[[Any], Awaitable[bytes]]   # an update -> its complete frame (cached per shape)
    seq: int                                    # the tick this subscriber saw last
    seen: list[RankedEntry] = field(default_factory=list)   # a top: the entries of that tick
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def end(self, error: BaseException | None = None) -> None:
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)


@dataclass
class PushStats:
    frames: int = 0        # frames written
    coalesced: int = 0     # subscriber-ticks skipped (slow socket or tick out of time): caught up later


Update = Callable[["PushSink"], Any]   # a sink -> the update that brings it from what it saw to now (None: no change)


class Pusher:
    """Writes one watch's tick to its push sinks; see the module doc."""

    def __init__(self, clock: Clock, tick_ms: int, buffer_bytes_max: int) -> None:
        self.clock = clock
        self.tick_ms = tick_ms
        self.buffer_bytes_max = buffer_bytes_max
        self.stats = PushStats()

    async def push(self, sinks: dict[PushSink, None], seq: int, state: list[RankedEntry] | None,
                   update: Update, started: float) -> bool:
        """Brings every sink to tick `seq` (`state`: a top's entries at it; None for a rank).
        Sinks that saw the same tick share one frame (built from the first one's update). False
        when some sink is still behind (a slow socket, or the tick ran out of time)."""
        complete = True
        frames: dict[tuple[object, int], bytes | None] = {}
        written = 0
        for sink in list(sinks):
            if sink.seq == seq:
                continue
            socket = sink.socket
            if socket.closing():
                sinks.pop(sink, None)
                sink.end()
                continue
            if socket.buffered() > self.buffer_bytes_max:
                self.stats.coalesced += 1
                complete = False
                continue
            key = (sink.shape, sink.seq)
            if key in frames:
                data = frames[key]
            else:
                built = update(sink)
                try:
                    data = frames[key] = None if built is None else await sink.render(built)
                except Exception as exc:  # noqa: BLE001  # re-raised in its subscriber: that operation fails, never the tick
                    sinks.pop(sink, None)
                    sink.end(exc)
                    continue
            if data is not None:
                socket.write(data)
                self.stats.frames += 1
            sink.seq = seq
            if state is not None:
                sink.seen = state
            written += 1
            if written % YIELD_EVERY == 0:
                await asyncio.sleep(0)
                if (self.clock.monotonic() - started) * 1000 > self.tick_ms:
                    self._behind_first(sinks, seq)
                    return False
        return complete

    def _behind_first(self, sinks: dict[PushSink, None], seq: int) -> None:
        """Out of time: those not reached are counted and go first next tick (nobody starves)."""
        behind = [s for s in sinks if s.seq != seq]
        self.stats.coalesced += len(behind)
        reached = [s for s in sinks if s.seq == seq]
        sinks.clear()
        sinks.update(dict.fromkeys(behind))
        sinks.update(dict.fromkeys(reached))
