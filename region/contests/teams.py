"""Team-building rules, checked server-side, and each team member's multiplier."""

from __future__ import annotations

from collections import Counter

from podium.region.contests.model import POINT_SCALE, Match, Team, TeamRules

from podium.errors import BadUserInput


def check_team(team: Team, match: Match, rules: TeamRules) -> None:
    """Raises BadUserInput naming the first rule the team breaks: size, distinct players from the
    match, credit cap, role quotas, captain and vice in the team and different."""
    if team.match != match.id:
        raise BadUserInput(f"the team is for match {team.match}, not {match.id}")
    if len(set(team.players)) != len(team.players):
        raise BadUserInput("a player is picked twice")
    if len(team.players) != rules.team_size:
        raise BadUserInput(f"a team has exactly {rules.team_size} players (got {len(team.players)})")
    unknown = [p for p in team.players if p not in match.players]
    if unknown:
        raise BadUserInput(f"not in this match: {', '.join(unknown[:5])}")
    credits = sum(match.players[p].credits for p in team.players)
    if credits > rules.credit_cap:
        raise BadUserInput(f"the team costs {credits / POINT_SCALE} credits; the cap is {rules.credit_cap / POINT_SCALE}")
    roles = Counter(match.players[p].role for p in team.players)
    for role, low in rules.role_min.items():
        if roles[role] < low:
            raise BadUserInput(f"at least {low} {role} needed (got {roles[role]})")
    for role, high in rules.role_max.items():
        if roles[role] > high:
            raise BadUserInput(f"at most {high} {role} allowed (got {roles[role]})")
    if team.captain not in team.players or team.vice not in team.players:
        raise BadUserInput("the captain and the vice-captain must be in the team")
    if team.captain == team.vice:
        raise BadUserInput("the captain and the vice-captain must be different players")


def multipliers(team: Team, rules: TeamRules) -> dict[str, int]:
    """Each member's multiplier in hundredths: the captain's, the vice's, 1× for the others."""
    out = dict.fromkeys(team.players, POINT_SCALE)
    out[team.captain] = rules.captain_multiplier
    out[team.vice] = rules.vice_multiplier
    return out
