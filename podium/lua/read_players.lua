-- Rank, score and achievement time of each named player on one board, in one round trip.
-- KEYS: 1 zset   2 index hash.  ARGV: player ids.
-- Returns 3 items per player: rank (0 = not on the board), zscore string, ts hex.
local z, idx = KEYS[1], KEYS[2]
local out = {}
for i = 1, #ARGV do
  local ts = redis.call("HGET", idx, ARGV[i])
  if ts then
    local member = ts .. ":" .. ARGV[i]
    local rank = redis.call("ZRANK", z, member)
    local zs = redis.call("ZSCORE", z, member)
    if rank then
      out[#out + 1] = rank + 1; out[#out + 1] = zs; out[#out + 1] = ts
    else
      out[#out + 1] = 0; out[#out + 1] = ""; out[#out + 1] = ""
    end
  else
    out[#out + 1] = 0; out[#out + 1] = ""; out[#out + 1] = ""
  end
end
return out
