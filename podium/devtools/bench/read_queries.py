"""The read queries the bench drives over HTTP, and wrk's Lua scripts that send them."""

from __future__ import annotations

import json

TOP100 = "query($b:String!){leaderboard(board:$b, first:100){edges{node{rank player score}}}}"
RANK_SCORE = "query($b:String!,$p:String!){player(id:$p){rank(board:$b) score(board:$b)}}"
AROUND = "query($b:String!,$p:String!){around(board:$b, player:$p, above:12, below:12){rank player score}}"

PROFILE_QUERIES = {"rank_score": RANK_SCORE, "top100": TOP100, "around": AROUND}

# A GraphQL POST per request with a random player; QUERY is a JSON string literal.
_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local query = %(query)s
request = function()
  local player = "p" .. math.random(0, %(players)d - 1)
  local body = '{"query":' .. query .. ',"variables":{"b":"%(board)s","p":"' .. player .. '"}}'
  return wrk.format(nil, "/graphql", nil, body)
end
"""

# The same POST for every request: what many clients polling one board's top send.
_POST_SAME = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = %(body)s
request = function()
  return wrk.format(nil, "/graphql", nil, body)
end
"""


def post_script(query: str, players: int, board: str = "read", *, distinct: bool = False) -> str:
    """A read whose query takes a player gets a random one per request. A query without `$p`
    sends one identical body (the whole-response cache may answer it), unless `distinct` adds an
    unused random player to every body, so each request is executed (the cache-miss cost)."""
    if "$p" in query or distinct:
        return _POST % {"query": json.dumps(json.dumps(query)), "players": players, "board": board}
    body = json.dumps({"query": query, "variables": {"b": board}}, separators=(",", ":"))
    return _POST_SAME % {"body": json.dumps(body)}
