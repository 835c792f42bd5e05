-- Indexes a slice of a board built aside (region/bulk_load_redis.py): the players of ranks
-- ARGV[1]..ARGV[2] of the built sorted set go into the index buckets of the final linear-hashing
-- state (level ARGV[3], next split ARGV[4]) that inserting every player one by one would reach, so
-- no bucket ever splits. Done here rather than in the client: the members never leave Redis (the
-- client read them back, decoded and hashed each, about half of a rebuild's client CPU), and a
-- bounded slice per call keeps each call short. index.lua (prepended) gives ix_fast_hash.
-- KEYS: 1 built zset
-- ARGV: 1 first rank  2 last rank  3 level  4 next bucket to split  5 bucket key prefix  6 TTL ms
-- Returns the number of players added to the buckets (the caller sums them into the state's n).

local members = redis.call("ZRANGE", KEYS[1], ARGV[1], ARGV[2])
local level, split = tonumber(ARGV[3]), tonumber(ARGV[4])
local low, high = 2 ^ level, 2 ^ (level + 1)
local sub = string.sub
local buckets = {}
for i = 1, #members do
  local member = members[i]
  local player = sub(member, 9)
  local h = ix_fast_hash(player)
  local b = h % low
  if b < split then b = h % high end
  local fields = buckets[b]
  if not fields then
    fields = {}
    buckets[b] = fields
  end
  fields[#fields + 1] = player
  fields[#fields + 1] = sub(member, 1, 8)
end
local added = 0
for b, fields in pairs(buckets) do
  local key = ARGV[5] .. ":" .. string.format("%d", b)
  added = added + redis.call("HSET", key, unpack(fields))
  redis.call("PEXPIRE", key, ARGV[6])
end
return added
