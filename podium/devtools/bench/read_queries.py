"""The read queries the bench drives over HTTP, and wrk's Lua scripts that send them."""

from __future__ import annotations

import json

TOP100 = "query($b:String!){leaderboard(board:$b, first:100){edges{node{rank player score}}}}"
RANK_SCORE = "query($b:String!,$p:String!){player(id:$p){rank(board:$b) score(board:$b)}}"
AROUND = "query($b:String!,$p:String!){around(board:$b, player:$p, above:12, below:12){rank player score}}"

PROFILE_QUERIES = {"rank_score": RANK_SCORE, "top100": TOP100}

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


def post_script(query: str, players: int, board: str = "read") -> str:
    return _POST % {"query": json.dumps(json.dumps(query)), "players": players, "board": board}
