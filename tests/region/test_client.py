"""The game-server client posts signed batches, splits large buffers, and retries transport
failures with the same Idempotency-Key so nothing is applied twice."""

from __future__ import annotations

import httpx
import pytest

from podium.client import BufferFull, GameServerClient
from podium.devtools.testing import LiveServer
from tests.conftest import GAME_KEY_ID, GAME_SECRET
from tests.region.helpers import create_board, top


class FlakyTransport(httpx.AsyncBaseTransport):
    """Forwards to the real server, but loses the first response (after the server applied it)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.calls: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.headers.get("idempotency-key"))
        response = await self.inner.handle_async_request(request)
        if len(self.calls) == 1:
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("connection lost after the server applied the batch")
        return response


@pytest.mark.anyio
async def test_client_batches_and_flushes(live_region: LiveServer) -> None:
    board = create_board(live_region.url, operator="increment")
    async with GameServerClient(live_region.url, GAME_KEY_ID, GAME_SECRET, batch_entries_max=3) as client:
        for i in range(7):
            client.add(board, f"p{i % 2}", 1)
        assert client.buffered == 7
        responses = await client.flush()
    assert len(responses) == 3
    assert sorted((n["player"], n["score"]) for n in top(live_region.url, board)) == [("p0", 4), ("p1", 3)]


@pytest.mark.anyio
async def test_retry_reuses_idempotency_key_so_increment_applies_once(live_region: LiveServer) -> None:
    board = create_board(live_region.url, operator="increment")
    transport = FlakyTransport()
    http = httpx.AsyncClient(base_url=live_region.url, transport=transport)
    client = GameServerClient(live_region.url, GAME_KEY_ID, GAME_SECRET, http=http, backoff_s_max=0.05)
    client.add(board, "ann", 10)
    [response] = await client.flush()
    await client.aclose()
    await transport.inner.aclose()
    assert len(transport.calls) == 2 and transport.calls[0] == transport.calls[1]
    assert response["results"][0]["status"] == "applied"
    assert top(live_region.url, board) == [{"rank": 1, "player": "ann", "score": 10, "achievedAt": top(live_region.url, board)[0]["achievedAt"]}]


def test_buffer_is_bounded() -> None:
    client = GameServerClient("http://127.0.0.1:1", "k", "s", buffer_entries_max=2)
    client.add("b", "p", 1)
    client.add("b", "p", 2)
    with pytest.raises(BufferFull):
        client.add("b", "p", 3)
