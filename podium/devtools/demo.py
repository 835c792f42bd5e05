"""A simulated game server for `podium up --demo`: posts signed batches so the board moves, and
map plays to the `map_played` trending stream."""

from __future__ import annotations

import asyncio
import random
import uuid

import orjson
from rich.console import Console

from podium.client import GameServerClient
from podium.signing import signed_headers

DEMO_PLAYERS = 200
DEMO_BATCH_ENTRIES = 50
DEMO_INTERVAL_S = 1.0
DEMO_STREAM = "map_played"      # trending: which maps are played most (declared by `podium up`)
DEMO_MAPS = ["dust2", "mirage", "inferno", "nuke", "overpass", "ancient", "anubis", "vertigo", "train", "cache"]
DEMO_EVENTS = 40


async def post_map_plays(client: GameServerClient, rng: random.Random) -> None:
    """A signed batch of trending events: Zipf-like map popularity, ranked or casual."""
    now = client.clock.now_ms()
    events = [{"stream": DEMO_STREAM, "item": DEMO_MAPS[min(len(DEMO_MAPS), int(rng.paretovariate(1.2))) - 1],
               "at": now - rng.randrange(5000), "event_id": uuid.uuid4().hex,
               "dims": {"mode": rng.choice(["ranked", "casual"])}} for _ in range(DEMO_EVENTS)]
    body = orjson.dumps({"events": events})
    headers = signed_headers(client.key_id, client.secret, "POST", "/v1/events", now, body)
    response = await client.http[client.regions.active].post("/v1/events", content=body, headers=headers)
    response.raise_for_status()


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
                await post_map_plays(client, rng)
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
