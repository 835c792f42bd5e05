"""The `notifications` query has a compiled plan (podium.gql.compiled, registered in region/api's
PLANNED_RESOLVERS): it answers the same status and bytes as the general path, keeps the auth rule
(a player sees only their own inbox; an admin names the player), and gives every error to the
general path. Two regions on the same Redis and the same warm inbox file, plans on and off; random
variables (hostile ones included), tokens and marks between reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from podium.region.notifications.inbox_sqlite import SqliteInbox

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.gql.compiled_view import CompiledPlans
from podium.notify_rules import Notification, RuleKind
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings

JWT_SECRET = "jwt-secret-for-inbox-plan-tests-0123"
PLAYERS = ("ann", "bob", "cyd")   # cyd has an empty inbox
DOCUMENTS = [
    ("query($p:String){notifications(first:20, player:$p){edges{cursor node{id kind board rank read}}"
     "hasNextPage unreadCount}}"),
    ("query($f:Int!,$a:String,$u:Boolean!){notifications(first:$f, after:$a, unreadOnly:$u){__typename "
     "edges{cursor node{id kind rule board player atMs rank previousRank score by count read}} hasNextPage "
     "endCursor unreadCount}}"),
    "query($f:Int=3){n:notifications(first:$f){e:edges{node{id read}} unreadCount}}",
]
JSON = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=6) | st.lists(st.integers(-1000, 1000), max_size=2)


def _token(player: str) -> str:
    return "Bearer " + jwt.encode({"sub": player, "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")


async def _seed(path: Path) -> None:
    inbox = SqliteInbox(path, 200)
    await inbox.open()
    try:
        await inbox.append([Notification(f"r:{p}:{k}", RuleKind.ENTERED_TOP_N, "r", "b", p, 1_000 + k // 2, rank=k + 1,
                                         previous_rank=None if k % 3 else k + 5, score=k * 10 if k % 2 else None,
                                         by=("x", "y") if k % 4 == 0 else ())
                            for p, n in (("ann", 12), ("bob", 4)) for k in range(n)])
    finally:
        await inbox.close()


@pytest.fixture(scope="module")
def regions(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    testing.START_TIMEOUT_S = 60.0
    inbox_path = tmp_path_factory.mktemp("inbox-plan") / "inbox.sqlite3"
    asyncio.run(_seed(inbox_path))

    def serve(plans: bool) -> LiveServer:
        api = {"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "cache_ttl_ms": 0,
               "response_cache_ttl_ms": 0, "graphql_compiled_plans": plans}
        return LiveServer(create_app, region_settings(f"{redis_server.url}/8", jwt_secret=JWT_SECRET, api=api,
                                                      notifications={"inbox_sqlite_path": str(inbox_path),
                                                                     "inbox_window_len": 5}))

    with serve(False) as general, serve(True) as planned:
        yield general, planned


def _plans(server: LiveServer) -> CompiledPlans:
    view = next(r.endpoint for r in server.app.routes if getattr(r, "path", None) == "/graphql")
    assert isinstance(view.plans, CompiledPlans)
    return view.plans


def _post(client: httpx.Client, server: LiveServer, body: bytes, auth: str | None) -> tuple[int, bytes]:
    headers = {"content-type": "application/json", **({"authorization": auth} if auth else {})}
    r = client.post(f"{server.url}/graphql", content=body, headers=headers)
    return r.status_code, r.content


@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), who=st.sampled_from([*PLAYERS, "admin", None, "garbage"]),
       document=st.sampled_from(DOCUMENTS), mark=st.none() | st.sampled_from(PLAYERS))
def test_the_plan_answers_as_the_general_path(regions: tuple[LiveServer, LiveServer], data: st.DataObject,
                                              who: str | None, document: str, mark: str | None) -> None:
    general, planned = regions
    auth = {"admin": f"Bearer {ADMIN_KEY}", None: None, "garbage": "Bearer nope"}.get(who, _token(str(who)))
    with httpx.Client(timeout=30) as client:
        if mark is not None:   # drops the player's Redis window: the next read refills it
            ids = data.draw(st.none() | st.lists(st.sampled_from([f"r:{mark}:{k}" for k in range(12)]), max_size=3))
            r = client.post(f"{general.url}/graphql", headers={"authorization": _token(mark)},
                            json={"query": "mutation($i:[String!]){markNotificationsRead(ids:$i)}", "variables": {"i": ids}})
            assert r.status_code == 200 and "errors" not in r.json(), r.text
        first = orjson.loads(_post(client, general, orjson.dumps({"query": DOCUMENTS[1], "variables": {
            "f": 4, "u": False}}), _token("ann"))[1])
        cursors = [e["cursor"] for e in first["data"]["notifications"]["edges"]]
        variables = {
            "p": data.draw(st.one_of(st.sampled_from([*PLAYERS, None, "zed"]), JSON)),
            "f": data.draw(st.one_of(st.sampled_from([1, 3, 5, 6, 20, 100, 0, 101]), JSON)),
            "a": data.draw(st.one_of(st.sampled_from([None, *cursors, "bad", "dDox"]), JSON)),
            "u": data.draw(st.one_of(st.booleans(), JSON)),
        }
        body = orjson.dumps({"query": document, "variables": variables})
        answers = [_post(client, s, body, auth) for s in (general, planned, planned)]
        assert answers[1:] == answers[:1] * 2, (document, variables, who, answers)
        assert answers[0][0] < 500


def test_the_plan_serves_own_inbox_and_gives_refusals_away(regions: tuple[LiveServer, LiveServer]) -> None:
    general, planned = regions
    plans = _plans(planned)
    body = orjson.dumps({"query": DOCUMENTS[1], "variables": {"f": 5, "u": False}})
    with httpx.Client(timeout=30) as client:
        _post(client, planned, body, _token("bob"))       # prepares the document
        served = plans.served
        answer = _post(client, planned, body, _token("bob"))
        assert plans.served == served + 1 and answer == _post(client, general, body, _token("bob"))
        edges = orjson.loads(answer[1])["data"]["notifications"]["edges"]
        assert [e["node"]["id"] for e in edges] == [f"r:bob:{k}" for k in (3, 2, 1, 0)]
        # another player's inbox: FORBIDDEN, answered by the general path
        other = orjson.dumps({"query": DOCUMENTS[0], "variables": {"p": "ann"}})
        fell_back = plans.fell_back
        answer = _post(client, planned, other, _token("bob"))
        assert answer == _post(client, general, other, _token("bob")) and b"FORBIDDEN" in answer[1]
        assert plans.fell_back == fell_back + 1 and plans.served == served + 1
        answer = _post(client, planned, other, None)    # no token at all
        assert b"UNAUTHENTICATED" in answer[1] and plans.served == served + 1
