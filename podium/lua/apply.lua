-- Applies a group of score entries to one board in one atomic round trip.
-- All keys share the board's hash tag, so the script runs on one Redis Cluster slot.
--
-- KEYS: 1 zset (ranks)   2 player index state (index.lua)   3 dedup set (this window)
--       4 dedup set (previous window)   5 delta hash (this minute)   6 quarantine stream
--       7 offsets hash (partition -> last applied offset)   8 change stream   9 banned set
--       10 history backlog stream (accepted scores on their way to the warm store)
-- ARGV: 1 operator   2 "1" if descending   3 max delta per minute or ""   4 dedup set ttl ms
--       5 quarantine len max   6 change stream len max   7 partition, "*" or ""   8 offset(s) or ""
--       9 history key ("arena@3"; "" when history is off)   10 history backlog entries max
--       11 W3C traceparent of the write ("" untraced): kept in the change-stream entry's field "t",
--          so the replication shipper continues the write's trace to the global merge
--       12 every entry's history row, packed by the caller ("" when history is off): a JSON array of
--          each entry's 4 arguments below, [player, score, achieved_at, event id], in entry order
--       then 4 per entry: player, score (an integer's canonical text, as Python's str(int): no "+",
--       no leading zeros, no "-0"), achieved_at (12 hex digits), event id or ""
-- The accepted entries (applied or unchanged) go to the history backlog in the same atomic call
-- as the score itself, so an acknowledged score always reaches the warm store, whatever crashes
-- (region/history/writer.py drains the backlog with XREADGROUP/XACK). One stream entry per call:
-- "k" the history key, "a" ARGV 12 as the caller packed it (every entry's row) and "x" the indexes
-- (0-based, space-separated; "" when none) of the entries not accepted, which the reader leaves
-- out: no table and no JSON encoding per entry here (a row table per entry and cjson.encode cost
-- ~20% of an apply's Redis CPU). region/history/backlog_redis.py reads this and the older
-- per-call "r" field (the accepted rows only, encoded here).
-- Returns {"skip"} when the offset was applied already, {"full"} (nothing applied) when the
-- history backlog holds `history backlog entries max` entries, else 3 items per entry:
--       code ("a" applied, "u" unchanged, "d" duplicate, "q" quarantined, "o" overflow, "b" banned),
--       rank (0 when none), score (string; "" when none);
--       then one last item: the change-stream id of this call's changes ("" when nothing changed),
--       the version of every applied entry (replication and read-your-writes tokens use it).
-- The tie rule lives in the member (<time key><player>) and the negated score of descending
-- boards: see podium/ranking.py. Scores are exact integers up to 2^53 (doubles). Times are compared
-- as numbers (index.lua says why); the change stream keeps carrying them as 12 hex digits.

local z, idx, dcur, dprev, dmin, qkey, offkey, chg, banned, hist =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local op, desc, max_delta = ARGV[1], ARGV[2] == "1", tonumber(ARGV[3])
local dedup_ttl_ms, qmax, cmax, part, offset = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local hkey, hmax, traceparent, hrows = ARGV[9], tonumber(ARGV[10]), ARGV[11], ARGV[12]
local LIMIT = 9007199254740992
local FIRST = 13  -- ARGV index of the first entry

-- The event-log offsets this call applies, stored atomically with the scores: one partition
-- (ARGV 7 and 8: skipped if that offset is stored already), or, with ARGV 7 = "*", every partition
-- whose records the entries come from, as "<partition> <first> <last> ..." in ARGV 8: the offsets
-- of the first and the last record of the partition in this call (the worker applies a
-- micro-batch's entries of all partitions in one call per board). If a partition's stored offset
-- has reached its first record, another apply got there first (a rebalance): nothing is applied,
-- {"skip"}, and the worker drops what is now stored and calls again.
local fence, nfence, firsts = {}, 0, {}
if part == "*" then
  for p, first, last in string.gmatch(offset, "(%S+) (%S+) (%S+)") do
    fence[nfence + 1] = p; fence[nfence + 2] = last; nfence = nfence + 2
    firsts[#firsts + 1] = tonumber(first)
  end
elseif part ~= "" then
  fence[1] = part; fence[2] = offset; nfence = 2
  firsts[1] = tonumber(offset)
end
if nfence > 0 then
  local parts = {}
  for i = 1, nfence, 2 do parts[(i + 1) / 2] = fence[i] end
  local stored = redis.call("HMGET", offkey, unpack(parts))
  for i = 1, #parts do
    if stored[i] and tonumber(stored[i]) >= firsts[i] then
      return {"skip"}
    end
  end
end
if hkey ~= "" and redis.call("XLEN", hist) >= hmax then
  return {"full"}
end

-- Exact overflow test for a + b with |a|, |b| <= 2^53: LIMIT - b and -LIMIT - b are exact doubles,
-- whereas a + b itself may round (2^53 + 1 == 2^53 in doubles) and hide the overflow.
local function sum_overflows(a, b)
  if b >= 0 then return a > LIMIT - b end
  return a < -LIMIT - b
end

local function fmt(x)
  if x == 0 then x = 0 end -- no "-0"
  return string.format("%.0f", x)
end

-- Set membership of a whole batch in one SMISMEMBER per chunk instead of one SISMEMBER per entry
-- (a redis.call costs about as much as the lookup itself): the members of `names` in `key`, as a set.
local CHUNK = 1000   -- arguments per SMISMEMBER / SADD (bounded unpack)
local function members_of(key, names)
  local found = {}
  for i = 1, #names, CHUNK do
    local last = math.min(i + CHUNK - 1, #names)
    local r = redis.call("SMISMEMBER", key, unpack(names, i, last))
    for j = 1, #r do
      if r[j] == 1 then found[names[i + j - 1]] = true end
    end
  end
  return found
end

local n = (#ARGV - FIRST + 1) / 4
-- Event ids seen in either dedup window; entries of this call add theirs as they are kept, so a
-- repeat within the batch is a duplicate too (as with a SADD per entry).
-- (Explicit counters rather than `t[#t + 1]` below: `#t` is a search, paid several times per entry.)
local events, players, nev = {}, {}, 0
for k = 0, n - 1 do
  local ev = ARGV[FIRST + k * 4 + 3]
  if ev ~= "" then nev = nev + 1; events[nev] = ev end
end
local dup = members_of(dcur, events)
for ev in pairs(members_of(dprev, events)) do dup[ev] = true end
-- Bans are rare: an empty banned set costs one SCARD per call, not a lookup per entry.
local is_banned = {}
if redis.call("SCARD", banned) > 0 then
  for k = 0, n - 1 do players[k + 1] = ARGV[FIRST + k * 4] end
  is_banned = members_of(banned, players)
end

local ix = ix_open(idx)
-- Every player's current time key and zscore, read before the loop in one HMGET per index bucket
-- and one ZMSCORE per CHUNK members instead of an HGET and a ZSCORE per entry (each redis.call
-- costs a few thousand instructions whatever it does); the loop keeps both up to date as it
-- writes, so a player twice in the batch sees its first entry. An index entry whose member is
-- gone counts as no entry (as ix_member does). Entries already known to be skipped (duplicate
-- event, banned player) are not looked up.
local cur_key, cur_zs = {}, {}   -- player -> time key (false: none) / zscore (number)
do
  local by_bucket, buckets, nbuckets = {}, {}, 0
  for k = 0, n - 1 do
    local b = FIRST + k * 4
    local player, ev = ARGV[b], ARGV[b + 3]
    if cur_key[player] == nil and not (ev ~= "" and dup[ev]) and not is_banned[player] then
      cur_key[player] = false
      local bucket = ix_bucket(ix, player)
      local list = by_bucket[bucket]
      if not list then
        list = {}; by_bucket[bucket] = list; nbuckets = nbuckets + 1; buckets[nbuckets] = bucket
      end
      list[#list + 1] = player
    end
  end
  local found, names, nfound = {}, {}, 0
  for i = 1, nbuckets do
    local list = by_bucket[buckets[i]]
    for c = 1, #list, CHUNK do
      local last = math.min(c + CHUNK - 1, #list)
      local r = redis.call("HMGET", buckets[i], unpack(list, c, last))
      for j = 1, #r do
        if r[j] then
          local player = list[c + j - 1]
          cur_key[player] = r[j]
          nfound = nfound + 1; found[nfound] = player; names[nfound] = r[j] .. player
        end
      end
    end
  end
  for c = 1, nfound, CHUNK do
    local r = redis.call("ZMSCORE", z, unpack(names, c, math.min(c + CHUNK - 1, nfound)))
    for j = 1, #r do
      local player = found[c + j - 1]
      if r[j] then cur_zs[player] = tonumber(r[j]) else cur_key[player] = false end
    end
  end
end
local out, changes, added, dropped = {}, {}, {}, {}
local nout, nchanges, nadded, ndropped = 0, 0, 0, 0
for k = 0, n - 1 do
  local b = FIRST + k * 4
  local player, score_s, ts, ev = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local score, tsn = tonumber(score_s), tonumber(ts, 16)
  if ev ~= "" and dup[ev] then
    out[nout + 1] = "d"; out[nout + 2] = 0; out[nout + 3] = ""; nout = nout + 3
    ndropped = ndropped + 1; dropped[ndropped] = k
  elseif is_banned[player] then
    out[nout + 1] = "b"; out[nout + 2] = 0; out[nout + 3] = ""; nout = nout + 3
    ndropped = ndropped + 1; dropped[ndropped] = k
  else
    local oldkey = cur_key[player] or nil
    local old, oldtsn, oldmember = nil, nil, nil
    if oldkey then
      oldmember = oldkey .. player
      oldtsn = ts_num(oldkey)
      if desc then old = -cur_zs[player] else old = cur_zs[player] end
    end
    local new, newtsn, overflow = nil, tsn, false
    if op == "best" then
      if (not old) or (desc and score > old) or ((not desc) and score < old) or (score == old and tsn < oldtsn) then
        new = score
      end
    elseif op == "latest" then
      -- versioned write: an older achievement never replaces a newer one (replays are harmless)
      if (not old) or tsn > oldtsn or (tsn == oldtsn and score > old) then
        new = score
      end
    else
      local amount = score
      if op == "decrement" then amount = -score end
      if sum_overflows(old or 0, amount) then
        overflow = true
      else
        new = (old or 0) + amount
        if oldtsn and oldtsn > tsn then newtsn = oldtsn end
        if old and new == old and newtsn == oldtsn then new = nil end
      end
    end
    local code, rank, shown = "u", 0, ""
    if overflow then
      code = "o"
    elseif new then
      local delta = 0
      if old then delta = math.abs(new - old) end
      local acc = 0
      if max_delta and old then acc = tonumber(redis.call("HGET", dmin, player) or "0") end
      if max_delta and old and acc + delta > max_delta then
        redis.call("XADD", qkey, "MAXLEN", "~", qmax, "*",
          "player", player, "score", score_s, "ts", ts, "event", ev,
          "reason", "max_delta", "delta", fmt(acc + delta), "limit", fmt(max_delta))
        code = "q"
      else
        local newkey = ts_key(newtsn)
        local member = newkey .. player
        -- the same time key is the same member: the ZADD below only moves its score
        if oldmember and newkey ~= oldkey then redis.call("ZREM", z, oldmember) end
        -- at most one number formatting per entry: the zscore's text is the score's, negated on
        -- descending boards; a best/latest board (and a first increment) keeps the entry's own text
        if new == score then shown = score_s else shown = fmt(new) end
        local zs_text = shown
        if desc and new > 0 then zs_text = "-" .. shown elseif desc and new < 0 then zs_text = string.sub(shown, 2) end
        redis.call("ZADD", z, zs_text, member)
        if newkey ~= oldkey then ix_set(ix, player, newkey) end
        cur_key[player] = newkey
        if desc then cur_zs[player] = -new else cur_zs[player] = new end
        if max_delta and old then
          redis.call("HINCRBY", dmin, player, delta)
          redis.call("PEXPIRE", dmin, 120000)
        end
        code, rank = "a", redis.call("ZRANK", z, member) + 1
        local newts = ts
        if newtsn ~= tsn then newts = ts_hex(newtsn) end
        nchanges = nchanges + 1
        changes[nchanges] = player .. "\t" .. shown .. "\t" .. newts
      end
    elseif old then
      rank, shown = redis.call("ZRANK", z, oldmember) + 1, fmt(old)
    end
    if ev ~= "" and code ~= "o" then
      dup[ev] = true
      nadded = nadded + 1
      added[nadded] = ev
    end
    if code ~= "a" and code ~= "u" then
      ndropped = ndropped + 1; dropped[ndropped] = k
    end
    out[nout + 1] = code; out[nout + 2] = rank; out[nout + 3] = shown; nout = nout + 3
  end
end

ix_close(ix)
for i = 1, nadded, CHUNK do
  redis.call("SADD", dcur, unpack(added, i, math.min(i + CHUNK - 1, nadded)))
end
if nadded > 0 then redis.call("PEXPIRE", dcur, dedup_ttl_ms) end
if nfence > 0 then redis.call("HSET", offkey, unpack(fence, 1, nfence)) end
local version = ""
if nchanges > 0 then
  if traceparent ~= "" then
    version = redis.call("XADD", chg, "MAXLEN", "~", cmax, "*", "d", table.concat(changes, "\n"), "t", traceparent)
  else
    version = redis.call("XADD", chg, "MAXLEN", "~", cmax, "*", "d", table.concat(changes, "\n"))
  end
end
if hkey ~= "" and ndropped < n then
  redis.call("XADD", hist, "*", "k", hkey, "a", hrows, "x", table.concat(dropped, " "))
end
out[nout + 1] = version
return out
