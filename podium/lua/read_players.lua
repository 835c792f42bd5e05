-- Rank, score and achievement time of each named player on one board, in one round trip.
-- KEYS: 1 zset   2 player index state (index_read.lua).  ARGV: player ids.
-- Returns 3 items per player: rank (0 = not on the board), zscore string, time key (8 characters,
-- podium/ranking.py `ts_from_key`; "" when not on the board).
local z = KEYS[1]
local l, p, k, fast = ixr_open(KEYS[2])
local out = {}
for i = 1, #ARGV do
  local member, key, zs = ixr_member(z, l, p, k, fast, ARGV[i])
  if member then
    out[#out + 1] = redis.call("ZRANK", z, member) + 1
    out[#out + 1] = zs
    out[#out + 1] = key
  else
    out[#out + 1] = 0; out[#out + 1] = ""; out[#out + 1] = ""
  end
end
return out
