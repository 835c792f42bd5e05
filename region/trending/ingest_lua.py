"""The Lua scripts of trending ingest (used by `store_redis.RedisTrendingStore`): a batch is at
most three calls, each doing C-level work per id or per aggregated increment, never per event
and series in Lua. Every key of a call is in the stream's hash tag (one cluster slot)."""

from __future__ import annotations

# Event-id dedup. KEYS[1] is the current id set, KEYS[2..] the older sets still inside the dedup
# window; ARGV[1] the current set's TTL (ms), ARGV[2] the ids as one MessagePack array (unpacked
# in C by cmsgpack: one argument instead of one per id, so the client packs no per-id frames),
# ARGV[3] "1" when the client saw no id twice in the batch, ARGV[4] "0" to only check (the ids are
# then committed by COMMIT_INCREMENT, with the counts). Returns the 0-based indices of the
# duplicates (ids seen in a set, or earlier in the same call). Sets that do not exist (yet, or
# any more) are not asked; a batch of distinct ids none of which was seen is added as it came,
# with no per-id Lua work. SMISMEMBER/SADD take the ids in chunks: `unpack` of more than ~8,000
# values overflows Lua's C stack.
DEDUP = """
local CH = 4000
local ids = cmsgpack.unpack(ARGV[2])
local sets = {}
for k = 1, #KEYS do
  if redis.call('EXISTS', KEYS[k]) == 1 then sets[#sets + 1] = KEYS[k] end
end
local hit, any = {}, false
for lo = 1, #ids, CH do
  local hi = math.min(lo + CH - 1, #ids)
  for k = 1, #sets do
    local r = redis.call('SMISMEMBER', sets[k], unpack(ids, lo, hi))
    for j = 1, #r do if r[j] == 1 then hit[lo + j - 1] = true; any = true end end
  end
end
local dup, fresh = {}, ids
if any or ARGV[3] ~= '1' then
  local seen = {}
  fresh = {}
  for j = 1, #ids do
    local id = ids[j]
    if hit[j] or seen[id] then dup[#dup + 1] = j - 1
    else seen[id] = true; fresh[#fresh + 1] = id end
  end
end
if ARGV[4] == '0' then return dup end
for lo = 1, #fresh, CH do
  redis.call('SADD', KEYS[1], unpack(fresh, lo, math.min(lo + CH - 1, #fresh)))
end
if #fresh > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return dup
"""

# Dimension-value cap. ARGV[1] is the cap, then (value set key, value, expiry ms) triples in the
# order the values were first used. Returns the 0-based indices of the refused triples.
ADMIT_VALUES = """
local cap = tonumber(ARGV[1])
local out, card = {}, {}
local t = 0
for j = 2, #ARGV, 3 do
  local key, v = ARGV[j], ARGV[j + 1]
  if redis.call('SISMEMBER', key, v) == 0 then
    local n = card[key] or redis.call('SCARD', key)
    if n < cap then
      redis.call('SADD', key, v); n = n + 1
      redis.call('PEXPIREAT', key, ARGV[j + 2])
    else out[#out + 1] = t end
    card[key] = n
  end
  t = t + 1
end
return out
"""

# Counts and sketch deltas. KEYS[1] is the stream's version counter, KEYS[2] (when shipping to a
# global tier) the set of cells written since it last took them; ARGV[1] the item cap, ARGV[2]
# the cells as one MessagePack array [buckets, cells]: each bucket [count key prefix, meta key,
# sketch list key prefix, expiry ms], each cell [its bucket's 1-based index, series, total, items,
# weights] (items and weights in first-occurrence order; a cell's keys are its bucket's prefixes
# and its series, so the ~3 keys of a cell are not sent per cell: a 500-event batch over 50
# minutes was 30 kB of MessagePack, two thirds of it keys), ARGV[2 + c] the c-th cell's
# sketch delta (binary, so not in the MessagePack: Redis's cmsgpack has no bin type). Weights and
# totals arrive as Lua numbers, written back by ZINCRBY/HINCRBY as "%.14g": exact because a batch's
# total weight stays below 10^14 (batch_events_max * WEIGHT_MAX). A cell whose items all fit under
# the cap takes one ZINCRBY per item; otherwise each new item is admitted while the cap allows, the
# rest of the weight is "other". A key's expiry is set by the call that creates it (the counts set
# when it had no member, the meta hash when a series' total field is new: totals are positive, the
# sketch list when RPUSH made it): a bucket's expiry is fixed by its start, and setting it once
# instead of three PEXPIREATs per cell and batch is a third fewer Redis calls for an ack-sized
# batch spread over many minutes. Nothing else creates these keys (the sketch compaction keeps a
# list, and its expiry, by LSET + LTRIM). Returns each sketch list's length (the caller compacts
# long ones).
_INCREMENT_BODY = """
local cap = tonumber(ARGV[1])
local packed = cmsgpack.unpack(ARGV[2])
local buckets, cells = packed[1], packed[2]
local lengths = {}
for c = 1, #cells do
  local cell = cells[c]
  local b, series, total = buckets[cell[1]], cell[2], cell[3]
  local zkey, mkey, skey, exp = b[1] .. series, b[2], b[3] .. series, b[4]
  local items, weights = cell[4], cell[5]
  local n = #items
  local card = redis.call('ZCARD', zkey)
  local created = card == 0
  local other = 0
  if card + n <= cap then
    for j = 1, n do redis.call('ZINCRBY', zkey, weights[j], items[j]) end
  else
    for j = 1, n do
      local ok = redis.call('ZSCORE', zkey, items[j]) ~= false
      if not ok and card < cap then ok = true; card = card + 1 end
      if ok then redis.call('ZINCRBY', zkey, weights[j], items[j])
      else other = other + weights[j] end
    end
  end
  if created then redis.call('PEXPIREAT', zkey, exp) end
  if redis.call('HINCRBY', mkey, 't:' .. series, total) == total then redis.call('PEXPIREAT', mkey, exp) end
  if other > 0 then redis.call('HINCRBY', mkey, 'o:' .. series, other) end
  local len = redis.call('RPUSH', skey, ARGV[2 + c])
  if len == 1 then redis.call('PEXPIREAT', skey, exp) end
  lengths[#lengths + 1] = len
  if dirty then redis.call('SADD', dirty, zkey) end
end
"""

INCREMENT = """
local dirty = KEYS[2]
""" + _INCREMENT_BODY + """redis.call('INCR', KEYS[1])
return lengths
"""

# The counts of a batch that fits one call, and its event ids with them (exactly once: a batch whose
# counts did not land left no id behind, so its retry counts it). KEYS[1] is the version counter,
# KEYS[2] (when shipping) the dirty set, then the id sets as for DEDUP (the current one first);
# ARGV as INCREMENT, then the dimension-value cap, the dimension values still to admit (one
# MessagePack array of (value set key, value, expiry ms) triples in first-use order, as
# ADMIT_VALUES takes them; empty when the admission call ran), the number of id sets, the fresh ids
# (one MessagePack array, distinct) and the current id set's TTL. Nothing is written and the reply
# is {-1} if an id was counted meanwhile (a concurrent batch, or the batch was sent unchecked and
# repeats an id), {-2} if a value would be refused by its cap: the caller then dedups, admits and
# rebuilds its cells. So a batch of fresh ids and known (or admissible) values is one call: the
# ack path's usual case sends no dedup or admission call ahead of it.
COMMIT_INCREMENT = """
local ids, ttl, nsets = cmsgpack.unpack(ARGV[#ARGV - 1]), ARGV[#ARGV], tonumber(ARGV[#ARGV - 2])
local offers, vcap = cmsgpack.unpack(ARGV[#ARGV - 3]), tonumber(ARGV[#ARGV - 4])
local first = #KEYS - nsets + 1
local dirty = nil
if first > 2 then dirty = KEYS[2] end
for k = first, #KEYS do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    for lo = 1, #ids, 4000 do
      local r = redis.call('SMISMEMBER', KEYS[k], unpack(ids, lo, math.min(lo + 3999, #ids)))
      for j = 1, #r do if r[j] == 1 then return {-1} end end
    end
  end
end
local vcard, admit = {}, {}
for j = 1, #offers, 3 do
  local key = offers[j]
  if redis.call('SISMEMBER', key, offers[j + 1]) == 0 then
    local n = vcard[key] or redis.call('SCARD', key)
    if n >= vcap then return {-2} end
    vcard[key] = n + 1
    admit[#admit + 1] = j
  end
end
for _, j in ipairs(admit) do
  redis.call('SADD', offers[j], offers[j + 1])
  redis.call('PEXPIREAT', offers[j], offers[j + 2])
end
""" + _INCREMENT_BODY + """for lo = 1, #ids, 4000 do
  redis.call('SADD', KEYS[first], unpack(ids, lo, math.min(lo + 3999, #ids)))
end
if #ids > 0 then redis.call('PEXPIRE', KEYS[first], ttl) end
redis.call('INCR', KEYS[1])
return lengths
"""
