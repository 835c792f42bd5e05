"""The subscription bench's native load generator (benchmarks/wsload, Go, built by
.ci/setup-wsload.sh) against a real region server: every subscriber connects, gets its initial state
and the pushed update, and the lag it reports is measured from the pushed score's own timestamp."""

from __future__ import annotations

import json

from podium.devtools.bench.subscriptions_wsload import WsLoad, wsload_binary
from podium.devtools.testing import ServerProcess
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET
from tests.region.helpers import create_board, entry, now_ms, post_scores

SUBSCRIBERS = 20
Q = "subscription($b:String!){ topChanged(board:$b, n:10){ seq changes { player rank achievedAt } entries { player } } }"
OLD_MS = 3_600_000     # the seeded scores are an hour old: a lag taken from them, not the pushed one, is >= 1 h


def test_go_client_connects_and_receives_a_pushed_update(redis_server: RedisServer) -> None:
    binary = wsload_binary()     # builds it (cached) from the project's files: no skip without Go
    env = {"REDIS_URL": redis_server.url, "PODIUM_GAME_SERVER_KEYS": json.dumps({GAME_KEY_ID: GAME_SECRET}),
           "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY])}
    with ServerProcess(env) as server:
        board = create_board(server.url)
        seed = [entry(board, f"p{i}", i, ts=now_ms() - OLD_MS) for i in range(5)]
        assert post_scores(server.url, {"entries": seed}).status_code == 200
        with WsLoad(server.ws_url, Q, {"b": board}, SUBSCRIBERS, concurrency=5, messages=1,
                    listen_timeout_s=60, binary=binary) as load:
            connected = load.connected()
            assert connected["connected"] == SUBSCRIBERS and connected["failed"] == 0, connected
            assert connected["initial_state_ms"]["count"] == SUBSCRIBERS
            assert 0 < connected["ack_ms"]["p50"] <= connected["initial_state_ms"]["p50"]
            written_ms = now_ms()
            r = post_scores(server.url, {"entries": [entry(board, "leader", 1000, ts=written_ms)]})
            assert r.status_code == 200, r.text
            done = load.done()
    assert done["subscribers_complete"] == SUBSCRIBERS, done
    assert done["deliveries"] >= SUBSCRIBERS and done["error_frames"] == 0
    lag = done["lag_ms"]
    assert lag["count"] == done["deliveries"]
    # the lag is the pushed score's: at least ~0 (ms truncation, one clock) and far below the seeds' hour
    assert -5 <= lag["p50"] <= lag["max"] < 30_000, lag
