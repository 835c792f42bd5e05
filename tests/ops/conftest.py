"""Ops fixtures: one scraped deployment per session (it takes ~30 s: a broker, three processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.redis_server import RedisServer
from tests.ops.scrape import Scrapes, drive_and_scrape
from tests.stream.conftest import kafka_bootstrap, kafka_broker  # noqa: F401 - fixtures used here

REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def scrapes(redis_server: RedisServer, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Scrapes:  # noqa: F811
    with pytest.MonkeyPatch.context() as patch:
        # three servers, a worker and a broker start at once on a shared machine: allow them a minute
        patch.setattr("podium.devtools.testing.START_TIMEOUT_S", SERVER_START_TIMEOUT_S)
        return drive_and_scrape(redis_server.url, kafka_bootstrap, tmp_path_factory.mktemp("ops"))


@pytest.fixture(scope="session")
def exported(scrapes: Scrapes) -> set[str]:
    return scrapes.names()
