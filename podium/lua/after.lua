-- Entries strictly after a cursor position (zscore, member) in rank order, with the rank of the
-- first one. A cursor is a rank key, not an offset, so pages stay stable under concurrent writes.
-- KEYS: 1 zset.  ARGV: 1 zscore  2 member  3 count.
-- Returns {first_rank, member1, zscore1, ...}.
local z = KEYS[1]
local zs, member, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
-- Entries with the same zscore and a greater member come first, then entries with a greater
-- zscore. Equal-score runs are ties, normally short; the LIMIT bounds the work regardless.
local out = {}
local got = 0
local first_rank = nil
local ties = redis.call("ZRANGEBYSCORE", z, zs, zs, "WITHSCORES", "LIMIT", 0, 10000)
for i = 1, #ties, 2 do
  if got < count and ties[i] > member then
    if not first_rank then first_rank = redis.call("ZRANK", z, ties[i]) + 1 end
    out[#out + 1] = ties[i]; out[#out + 1] = ties[i + 1]; got = got + 1
  end
end
if got < count then
  local rest = redis.call("ZRANGEBYSCORE", z, "(" .. zs, "+inf", "WITHSCORES", "LIMIT", 0, count - got)
  for i = 1, #rest, 2 do
    if not first_rank then first_rank = redis.call("ZRANK", z, rest[i]) + 1 end
    out[#out + 1] = rest[i]; out[#out + 1] = rest[i + 1]
  end
end
table.insert(out, 1, first_rank or 0)
return out
