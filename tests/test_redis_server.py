"""The embedded redis-server manager starts real servers and leaves no process behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.redis_server import RedisServer, pids_alive


def test_start_and_stop_leaves_no_process(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    assert server.process is not None
    pid = server.process.pid
    assert server.ping()
    server.stop()
    assert pids_alive([pid]) == []
    assert not server.ping()


@pytest.mark.anyio
async def test_cluster_fixture_is_a_real_cluster(redis_cluster) -> None:  # type: ignore[no-untyped-def]
    info = await redis_cluster.cluster_info()
    assert info["cluster_state"] == "ok"
    assert int(info["cluster_known_nodes"]) == 3
