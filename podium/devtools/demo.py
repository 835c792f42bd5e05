"""A simulated game server for `podium up --demo`: posts signed batches so the board moves."""

from __future__ import annotations

import asyncio
import random

from rich.console import Console

from podium.client import GameServerClient

DEMO_PLAYERS = 200
DEMO_BATCH_ENTRIES = 50
DEMO_INTERVAL_S = 1.0


async def run_demo(base_url: str, key_id: str, secret: str, board: str, stop: asyncio.Event,
                   console: Console, *, seed: int = 7) -> None:
    rng = random.Random(seed)
    client = GameServerClient(base_url, key_id, secret)
    await asyncio.sleep(0.5)  # let the server bind first
    sent = 0
    try:
        while not stop.is_set():
            for _ in range(DEMO_BATCH_ENTRIES):
                client.add(board, f"player-{rng.randrange(DEMO_PLAYERS)}", rng.randrange(100_000))
            try:
                await client.flush()
                sent += DEMO_BATCH_ENTRIES
                if sent % (DEMO_BATCH_ENTRIES * 10) == 0:
                    console.print(f"[dim]demo game server: {sent} scores posted to {board!r}[/]")
            except Exception as exc:
                console.print(f"[yellow]demo game server: {exc}[/]")
            with_timeout = asyncio.wait_for(stop.wait(), DEMO_INTERVAL_S)
            try:
                await with_timeout
            except TimeoutError:
                pass
    finally:
        await client.aclose()
