-- The global tier's merge of one board's regional changes, in one atomic call (one EVALSHA per
-- batch instead of a read round trip, Python merging and a write pipeline: issue 21's profile had
-- the global process spend most of its CPU decoding, resolving and re-encoding states in Python).
-- The rules are podium/replication/regional_state.py's, which stays the model: the hypothesis test
-- tests/global_/test_global_merge_lua.py replays random histories through both on a real Redis.
--
-- KEYS: 1 state hash (player -> JSON {region: [score, achieved_at_ms, seq]})   2 merged zset
--       3 applied hash (region -> newest seq)   4 version counter   5 conflict stream
-- ARGV: 1 operator (best, latest, increment, decrement)   2 "1" if descending
--       3 conflict stream length max   4 the changes, one line each ("\n" between lines):
--       region \t player \t score \t achieved_at_ms (-1: a tombstone) \t seq, integers in decimal
--       (one packed argument: unpacking 5,000 arguments into ARGV cost the script more than its merge;
--       region and player ids hold no tab, newline, quote or backslash: the caller checks)
-- Returns {merged entries changed, conflicts logged}. Reads and writes are one variadic command per
-- kind (HMGET, HSET, ZREM, ZADD) in chunks, not one call per player: per-call overhead was 2/3 of
-- the script's time.
--
-- Numbers. A seq is ms * 2^16 + n (about 2^57): beyond a double's exact integers, so seqs stay
-- strings, compared by length then bytes (they are non-negative and written without leading
-- zeros: the caller checks). Scores (|score| <= 2^53) and times are exact as doubles. The state
-- JSON is read and written as text, so every number keeps its exact digits and the hash stays
-- byte-compatible with the Python encoder (orjson: no spaces, regions in insertion order).
-- Counter totals are summed as doubles, exactly as the sorted set stores them.

local kst, kz, kapplied, kver, kconf = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op, desc, conf_max, packed = ARGV[1], ARGV[2] == "1", ARGV[3], ARGV[4]
local CHUNK = 1000   -- items per variadic call (Lua's unpack limit is 8,000 values)
local TOMB = -1
local counter = op == "increment" or op == "decrement"

local TS_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
local TS_BYTE = {}
for i = 1, 64 do TS_BYTE[i - 1] = string.byte(TS_ALPHABET, i) end
local char, floor = string.char, math.floor
-- podium.ranking.ts_key: 8 base-64 digits, one string.char call (a digit table and a concat cost
-- three times as much, and the key is built twice per merged player)
local function ts_key(n)
  local d8 = n % 64; n = floor(n / 64)
  local d7 = n % 64; n = floor(n / 64)
  local d6 = n % 64; n = floor(n / 64)
  local d5 = n % 64; n = floor(n / 64)
  local d4 = n % 64; n = floor(n / 64)
  local d3 = n % 64; n = floor(n / 64)
  local d2 = n % 64; n = floor(n / 64)
  return char(TS_BYTE[n % 64], TS_BYTE[d2], TS_BYTE[d3], TS_BYTE[d4], TS_BYTE[d5], TS_BYTE[d6], TS_BYTE[d7], TS_BYTE[d8])
end

local function seq_gt(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

-- state: {order = {region, ...}, v = {region = {score, ts, seq_string, score_text, ts_text}}}
local function decode(raw)
  local s = {order = {}, v = {}}
  if not raw then return s end
  for region, score, ts, seq in string.gmatch(raw, '"(.-)":%[(%-?%d+),(%-?%d+),(%-?%d+)%]') do
    s.order[#s.order + 1] = region
    s.v[region] = {tonumber(score), tonumber(ts), seq, score, ts}
  end
  return s
end

local function encode(s)
  local parts = {}
  for i, region in ipairs(s.order) do
    local v = s.v[region]
    parts[i] = '"' .. region .. '":[' .. v[4] .. ',' .. v[5] .. ',' .. v[3] .. ']'
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- regional_state._newer: by seq, then score, then time (equal seqs only on corrupted input)
local function newer(value, current)
  if not current then return true end
  if value[3] ~= current[3] then return seq_gt(value[3], current[3]) end
  if value[1] ~= current[1] then return value[1] > current[1] end
  return value[2] > current[2]
end

local function is_better(a, b)
  if desc then return a > b end
  return a < b
end

-- regional_state.resolve over the given live regions: score, time (nil when none)
local function resolve_of(s, regions)
  if #regions == 0 then return nil end
  if counter then
    local sum, ts = 0, nil
    for _, r in ipairs(regions) do
      local v = s.v[r]
      sum = sum + v[1]
      if not ts or v[2] > ts then ts = v[2] end
    end
    return sum, ts
  end
  table.sort(regions)
  local best = s.v[regions[1]]
  for i = 2, #regions do
    local v = s.v[regions[i]]
    local better
    if op == "best" then
      better = is_better(v[1], best[1]) or (v[1] == best[1] and v[2] < best[2])
    else
      better = v[2] > best[2] or (v[2] == best[2] and v[1] > best[1])
    end
    if better then best = v end
  end
  return best[1], best[2]
end

local function live_regions(s)
  local out = {}
  for _, r in ipairs(s.order) do
    if s.v[r][2] ~= TOMB then out[#out + 1] = r end
  end
  return out
end

local function resolve(s)
  return resolve_of(s, live_regions(s))
end

-- regional_state.winner over {a, b}: the smallest region whose value is the resolved one
local function winner2(s, a, b)
  local score, ts = resolve_of(s, {a, b})
  local pick = nil
  for _, r in ipairs({a, b}) do
    local v = s.v[r]
    if v[1] == score and v[2] == ts and (not pick or r < pick) then pick = r end
  end
  return pick
end

local function chunked(cmd, key, items)
  for i = 1, #items, CHUNK do
    redis.call(cmd, key, unpack(items, i, math.min(i + CHUNK - 1, #items)))
  end
end

local rows, touched, seen = {}, {}, {}
for region, player, score_t, ts_t, seq in string.gmatch(packed, "([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)") do
  rows[#rows + 1] = {region, player, score_t, ts_t, seq}
  if not seen[player] then
    seen[player] = true
    touched[#touched + 1] = player
  end
end

local states, old = {}, {}
for i = 1, #touched, CHUNK do
  local part = {unpack(touched, i, math.min(i + CHUNK - 1, #touched))}
  local raw = redis.call("HMGET", kst, unpack(part))
  for j, player in ipairs(part) do
    local s = decode(raw[j])
    states[player] = s
    local sc, ts = resolve(s)
    old[player] = {sc, ts}
  end
end

local newest = {}
local conflicts = 0
for _, row in ipairs(rows) do
  local region, player, score_t, ts_t, seq = row[1], row[2], row[3], row[4], row[5]
  local s = states[player]
  if not newest[region] or seq_gt(seq, newest[region]) then newest[region] = seq end
  local value = {tonumber(score_t), tonumber(ts_t), seq, score_t, ts_t}
  local prior = s.v[region]
  if newer(value, prior) then
    if op == "latest" and value[2] ~= TOMB then
      -- merged_store._conflicts: concurrent with every other region holding a different value
      for _, r in ipairs(live_regions(s)) do
        local other = s.v[r]
        if r ~= region and not (other[1] == value[1] and other[2] == value[2]) then
          local pair = {order = {r, region}, v = {[r] = other, [region] = value}}
          local won = winner2(pair, r, region) or r
          local lose = region
          if won == region then lose = r end
          local wv, lv = pair.v[won], pair.v[lose]
          redis.call("XADD", kconf, "MAXLEN", "~", conf_max, "*", "player", player, "winner", won,
                     "loser", lose, "winner_value", wv[4] .. "@" .. wv[5], "loser_value", lv[4] .. "@" .. lv[5])
          conflicts = conflicts + 1
        end
      end
    end
    if not prior then s.order[#s.order + 1] = region end
    s.v[region] = value
    s.dirty = true
  end
end

-- removals before additions (an entry whose member is unchanged, same time and a new score, is re-added)
local changed, written, removed, added = 0, {}, {}, {}
for _, player in ipairs(touched) do
  local s = states[player]
  if s.dirty then
    written[#written + 1] = player
    written[#written + 1] = encode(s)
    local before = old[player]
    local score, ts = resolve(s)
    if not (score == before[1] and ts == before[2]) then
      changed = changed + 1
      if before[1] then removed[#removed + 1] = ts_key(before[2]) .. player end
      if score then
        local zs = score
        if desc then zs = -score end
        if zs == 0 then zs = 0 end
        added[#added + 1] = string.format("%.17g", zs)
        added[#added + 1] = ts_key(ts) .. player
      end
    end
  end
end
for i = 1, #written, 2 * CHUNK do
  redis.call("HSET", kst, unpack(written, i, math.min(i + 2 * CHUNK - 1, #written)))
end
chunked("ZREM", kz, removed)
for i = 1, #added, 2 * CHUNK do
  redis.call("ZADD", kz, unpack(added, i, math.min(i + 2 * CHUNK - 1, #added)))
end

for region, seq in pairs(newest) do
  local have = redis.call("HGET", kapplied, region)
  if seq_gt(seq, have or "0") then redis.call("HSET", kapplied, region, seq) end
end
if changed > 0 then redis.call("INCR", kver) end
return {changed, conflicts}
