"""saveTeam and joinContest on the prepared fast path (`podium.gql.fast_path` runs cached, valid
mutations on graphql-core directly): the same requests, sent in the same order to a region with the
fast path and to one without it (each on its own Redis database, both on a fake clock), get the same
status and the same bytes: successes, idempotent repeats, refusals with `extensions.code`
(BAD_USER_INPUT, NOT_FOUND, CONTEST_LOCKED, UNAUTHENTICATED, CONFLICT), and an admin's join is
written to the audit log on both. The fast region must actually have served the repeats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest
import redis
from podium.region.api.app import create_app

from podium.clock import FakeClock
from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.gql.fast_path import FastPath
from podium.redis_server import RedisServer
from podium.web.audit import AUDIT_KEY
from tests.conftest import ADMIN_KEY, region_settings

JWT_SECRET = "jwt-secret-for-fast-mutations-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SAVE = "mutation Save($t: TeamInput!, $o: String) { saveTeam(team: $t, owner: $o) { owner id version contests } }"
JOIN = "mutation Join($c: String!, $t: String!, $o: String) { joinContest(contest: $c, team: $t, owner: $o) { entry joined } }"
PLAYERS = [{"id": f"p{i:02d}", "role": "bat" if i % 2 else "bowl", "credits": 8} for i in range(22)]
DBS = (8, 9)


def _serve(redis_url: str, fast: bool) -> LiveServer:
    api = {
        "rate_limit_per_s": 100_000.0,
        "rate_limit_burst": 100_000,
        "cache_ttl_ms": 0,
        "graphql_fast_path": fast,
    }
    # no per-call Redis deadline: on a starved machine a 503 on one region only is not what is compared
    settings = region_settings(redis_url, jwt_secret=JWT_SECRET, api=api, breakers={"call_timeout_ms": 0})

    def factory(s: Settings) -> Any:
        return create_app(s, FakeClock())

    return LiveServer(factory, settings)


@pytest.fixture(scope="module")
def regions(redis_server: RedisServer) -> Iterator[tuple[LiveServer, LiveServer]]:
    for db in DBS:
        redis.Redis.from_url(f"{redis_server.url}/{db}").flushdb()
    with (
        _serve(f"{redis_server.url}/{DBS[0]}", False) as general,
        _serve(f"{redis_server.url}/{DBS[1]}", True) as fast,
    ):
        for server in (general, fast):
            for match, deadline in (("m", int(time.time() * 1000) + 3_600_000), ("old", 1_000)):
                r = httpx.post(
                    f"{server.url}/v1/admin/contests/matches",
                    headers=ADMIN,
                    timeout=30,
                    json={
                        "id": match,
                        "deadline_ms": deadline,
                        "players": PLAYERS,
                        "scoring": {"version": 1, "points": {"six": 6}},
                    },
                )
                assert r.status_code == 201, r.text
            for contest, match, capacity in (("c1", "m", 100), ("tiny", "m", 1), ("late", "old", 100)):
                r = httpx.post(
                    f"{server.url}/v1/admin/contests",
                    headers=ADMIN,
                    timeout=30,
                    json={"id": contest, "match": match, "capacity": capacity, "entry_fee": 10, "prizes": []},
                )
                assert r.status_code == 201, r.text
        yield general, fast


def _token(player: str) -> dict[str, str]:
    claims = {"sub": player, "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}


def _team(tid: str, match: str = "m", shift: int = 0, captain: int = 0, vice: int = 1) -> dict[str, Any]:
    picked = [f"p{(shift + i) % 22:02d}" for i in range(11)]
    return {"id": tid, "match": match, "players": picked, "captain": picked[captain], "vice": picked[vice]}


def fast_path_of(server: LiveServer) -> FastPath:
    view = next(r.endpoint for r in server.app.routes if getattr(r, "path", None) == "/graphql")
    assert view.fast_path is not None
    return view.fast_path  # type: ignore[no-any-return]


# (document, variables, headers): each sent twice in a row, in this order, to both regions
STEPS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (SAVE, {"t": _team("a")}, _token("ann")),
    (SAVE, {"t": _team("a", shift=3)}, _token("ann")),  # a new version
    (SAVE, {"t": _team("b", captain=2, vice=2)}, _token("ann")),  # captain = vice
    (SAVE, {"t": {**_team("b"), "players": ["p00"] * 11}}, _token("ann")),  # repeated players
    (SAVE, {"t": _team("z", match="nope")}, _token("ann")),  # unknown match
    (SAVE, {"t": _team("a", match="old")}, _token("ann")),  # locked match
    (SAVE, {"t": _team("a")}, {}),  # no token
    (SAVE, {"t": _team("a"), "o": "bob"}, _token("ann")),  # someone else's team
    (SAVE, {"t": _team("a"), "o": "bob"}, ADMIN),  # an admin for bob (audited)
    (JOIN, {"c": "c1", "t": "a"}, _token("ann")),
    (JOIN, {"c": "c1", "t": "a"}, _token("ann")),  # idempotent
    (JOIN, {"c": "nope", "t": "a"}, _token("ann")),
    (JOIN, {"c": "c1", "t": "missing"}, _token("ann")),
    (JOIN, {"c": "late", "t": "a"}, _token("ann")),
    (JOIN, {"c": "tiny", "t": "a"}, _token("ann")),
    (JOIN, {"c": "tiny", "t": "a"}, _token("bob")),  # full
    (JOIN, {"c": "c1", "t": "a"}, {"Authorization": "Bearer not-a-jwt"}),
    (JOIN, {"c": "c1", "t": "a", "o": "bob"}, ADMIN),  # audited
    (JOIN, {"c": 5, "t": "a"}, _token("ann")),  # a variable of the wrong type
]


def _post(
    server: LiveServer, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/graphql",
        content=orjson.dumps({"query": query, "variables": variables}),
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )


def test_mutations_answer_the_same_bytes_on_the_fast_path(
    regions: tuple[LiveServer, LiveServer], redis_server: RedisServer
) -> None:
    general, fast = regions
    path = fast_path_of(fast)
    before = path.served
    codes = set()
    for query, variables, headers in STEPS:
        for _ in range(2):
            expected = _post(general, query, variables, headers)
            got = _post(fast, query, variables, headers)
            assert expected.status_code < 500, expected.text
            assert (got.status_code, got.content) == (expected.status_code, expected.content), (
                variables,
                got.text,
            )
            codes.update(e["extensions"]["code"] for e in expected.json().get("errors", []))
    assert {"BAD_USER_INPUT", "NOT_FOUND", "CONTEST_LOCKED", "UNAUTHENTICATED", "CONFLICT"} <= codes, codes
    # every request after each document's first went the fast way (the bad-variable one excepted:
    # its variables are refused by graphql-core the same way on both, through the fast path too)
    assert path.served - before >= 2 * len(STEPS) - 2
    audits = [
        orjson.loads(r) for r in redis.Redis.from_url(f"{redis_server.url}/{DBS[0]}").lrange(AUDIT_KEY, 0, -1)
    ]
    fast_audits = [
        orjson.loads(r) for r in redis.Redis.from_url(f"{redis_server.url}/{DBS[1]}").lrange(AUDIT_KEY, 0, -1)
    ]
    actions = [a["action"] for a in audits if a["action"] in ("saveTeam", "joinContest")]
    assert actions == ["joinContest", "joinContest", "saveTeam", "saveTeam"]
    assert [
        (a["action"], a["detail"]) for a in fast_audits if a["action"] in ("saveTeam", "joinContest")
    ] == [(a["action"], a["detail"]) for a in audits if a["action"] in ("saveTeam", "joinContest")]


def test_a_get_never_runs_a_mutation(regions: tuple[LiveServer, LiveServer]) -> None:
    _, fast = regions
    _post(fast, JOIN, {"c": "c1", "t": "a"}, _token("ann"))  # prepared and cached
    r = httpx.get(
        f"{fast.url}/graphql",
        params={"query": JOIN, "variables": orjson.dumps({"c": "c1", "t": "a"}).decode()},
        headers=_token("ann"),
        timeout=30,
    )
    assert 400 <= r.status_code < 500 and "errors" in r.json()


def _rest_join(server: LiveServer, contest: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(
        f"{server.url}/v1/contests/{contest}/entries",
        content=raw,
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )


_STATUS = {
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "CONTEST_LOCKED": 423,
}


def test_rest_join_answers_as_join_contest(regions: tuple[LiveServer, LiveServer]) -> None:
    """POST /v1/contests/{contest}/entries on one region, joinContest on the other, same order:
    the same entry and `joined`, or the same code (with its HTTP status on the REST side)."""
    general, fast = regions
    for server in regions:
        for player in ("dan", "eve"):
            assert (
                _post(server, SAVE, {"t": _team("r")}, _token(player)).json()["data"]["saveTeam"]["version"]
                == 1
            )
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("c1", "r", _token("dan")),
        ("c1", "r", _token("dan")),  # joined, then idempotent
        ("nope", "r", _token("dan")),
        ("c1", "missing", _token("dan")),
        ("late", "r", _token("dan")),
        ("tiny", "r", _token("eve")),  # full (ann took the one place)
        ("c1", "r", {}),
        ("c1", "r", {"Authorization": "Bearer not-a-jwt"}),
        ("c1", "r", {"Authorization": "Basic x"}),
    ]
    for contest, team, headers in cases:
        doc = _post(general, JOIN, {"c": contest, "t": team}, headers).json()
        r = _rest_join(fast, contest, {"team": team}, headers)
        if doc.get("errors"):
            code = doc["errors"][0]["extensions"]["code"]
            assert (r.status_code, r.json()["error"]["code"]) == (_STATUS[code], code), (contest, r.text)
        else:
            assert r.status_code == 200 and r.json() == {"contest": contest, **doc["data"]["joinContest"]}, (
                r.text
            )
    # hostile bodies: 4xx with a code, never 5xx
    for body in (b"{", b"[]", {"team": 5}, {"team": "r", "owner": "dan"}, {}, b"x" * 10_000):
        r = _rest_join(fast, "c1", body, _token("dan"))
        assert 400 <= r.status_code < 500 and r.json()["error"]["code"], r.text
    assert _rest_join(fast, "c1", {"team": "r"}, ADMIN).status_code == 403
