-- Entries strictly after a cursor position (zscore, member) in rank order, with the rank of the
-- first one. A cursor is a rank key, not an offset, so pages stay stable under concurrent writes.
-- KEYS: 1 zset.  ARGV: 1 zscore  2 member  3 count.
-- Returns {first_rank, member1, zscore1, ...} (first_rank 0 when nothing follows).
--
-- Whatever the ties: the start is the cursor member's own rank + 1 when it is still on the board
-- at that score; otherwise a binary search over the run of entries sharing the score (members
-- compared byte by byte, as Redis orders them), O(log n) probes however long the run is.
local z = KEYS[1]
local zs, member, count = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])

-- a > b in Redis' member order (memcmp, then length); Lua's own `>` follows the C locale's collation
local function after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

local start
local own = redis.call("ZSCORE", z, member)
if own and tonumber(own) == zs then
  start = redis.call("ZRANK", z, member) + 1
else
  local lo = redis.call("ZCOUNT", z, "-inf", "(" .. ARGV[1])
  local hi = lo + redis.call("ZCOUNT", z, ARGV[1], ARGV[1])
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local probe = redis.call("ZRANGE", z, mid, mid)[1]
    if after(probe, member) then hi = mid else lo = mid + 1 end
  end
  start = lo
end
local out = redis.call("ZRANGE", z, start, start + count - 1, "WITHSCORES")
table.insert(out, 1, #out > 0 and start + 1 or 0)
return out
