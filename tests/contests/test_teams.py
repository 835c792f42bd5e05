"""Team rules against an oracle: a random team is accepted exactly when it meets every rule."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from podium.region.contests.model import Contest, Match, Team, TeamRules
from podium.region.contests.teams import check_team, multipliers

from podium.errors import BadUserInput

ROLES = ["bat", "bowl", "wk", "ar"]
MATCH = Match.from_dict({"id": "m1", "deadline_ms": 10**12, "players": [
    {"id": f"p{i:02d}", "role": ROLES[i % 4], "credits": 7 + (i % 5) * 0.5} for i in range(22)]})
RULES = TeamRules.from_dict({"team_size": 11, "credit_cap": 100, "role_min": {"wk": 1, "bat": 3},
                             "role_max": {"wk": 4, "bowl": 6}})


def oracle_ok(team: Team) -> bool:
    players = team.players
    if len(set(players)) != len(players) or len(players) != 11:
        return False
    if any(p not in MATCH.players for p in players):
        return False
    if sum(MATCH.players[p].credits for p in players) > RULES.credit_cap:
        return False
    roles = Counter(MATCH.players[p].role for p in players)
    if roles["wk"] < 1 or roles["bat"] < 3 or roles["wk"] > 4 or roles["bowl"] > 6:
        return False
    return team.captain in players and team.vice in players and team.captain != team.vice


@given(st.lists(st.sampled_from([*MATCH.players, "zz"]), min_size=1, max_size=13),
       st.sampled_from([*MATCH.players]), st.sampled_from([*MATCH.players]))
def test_check_team_agrees_with_the_oracle(players: list[str], captain: str, vice: str) -> None:
    team = Team("ann", "t1", "m1", tuple(sorted(players)), captain, vice)
    try:
        check_team(team, MATCH, RULES)
        accepted = True
    except BadUserInput:
        accepted = False
    assert accepted == oracle_ok(team)


def test_multipliers_are_exact_hundredths() -> None:
    team = Team("ann", "t1", "m1", tuple(sorted(MATCH.players)[:11]), "p00", "p01")
    m = multipliers(team, RULES)
    assert m["p00"] == 200 and m["p01"] == 150 and m["p02"] == 100 and len(m) == 11


@pytest.mark.parametrize("doc", [
    None, 5, "x", [], {"id": "c"}, {"id": "c", "match": "m1", "capacity": 0},
    {"id": "c", "match": "m1", "capacity": 10, "prizes": [{"rank_from": 2, "rank_to": 1, "amount": 5}]},
    {"id": "c", "match": "m1", "capacity": 10, "entry_fee": 1, "prizes": [{"rank_from": 1, "rank_to": 1, "amount": 11}]},
    {"id": "c", "match": "m1", "capacity": 10, "rules": {"captain_multiplier": 1.234}},
    {"id": "\ud800", "match": "m1", "capacity": 10},
    {"id": "c", "match": "m1", "capacity": 2**70},
])
def test_hostile_contest_declarations_are_bad_user_input(doc: object) -> None:
    with pytest.raises(BadUserInput):
        Contest.from_dict(doc)
