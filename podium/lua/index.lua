-- Shared by every script that finds a player's member (prepended by RedisRankStore when loading).
--
-- Time keys. A member is <time key><player>; the time key is the achievement time in ms (< 2^48)
-- as 8 digits of an ASCII-ordered base-64 alphabet, so byte order = time order (podium/ranking.py).
-- Times are compared here as numbers (exact doubles below 2^53), never as strings: Lua compares
-- strings with strcoll and Redis sets LC_COLLATE from the environment.
--
-- Player index: player -> time key, so a player's member is rebuilt in O(1). One big hash costs
-- ~100 bytes a player (a dict entry and two strings each); the index is spread instead over small
-- hashes ("buckets") that Redis keeps as ziplists/listpacks, ~18 bytes a player. The number of
-- buckets grows with the board by linear hashing: one bucket up to IX_BUCKET_ENTRIES players, then
-- whenever the board holds more than IX_BUCKET_ENTRIES per bucket, bucket p splits into p and
-- p + 2^l (only that bucket is rewritten, so no write ever pays for the whole index).
-- State, in the hash at the index key: l (level), p (next bucket to split), n (players), k (bucket key
-- prefix; a rebuild or a clear starts a fresh one). Buckets are k .. ":" .. <number>, under the
-- board's hash tag (one cluster slot with the declared keys). Bucket of hash h:
-- b = h mod 2^l, or h mod 2^(l+1) when b < p. h = ix_fast_hash(player) (below) when the state's
-- h field is "f"; an index without it (written before the fast hash) keeps h = the first 32 bits of
-- SHA-1(player) until a rebuild or a clear gives the board a fresh index (an empty index, n = 0,
-- takes the fast hash at once: no player has to move).
-- IX_BUCKET_ENTRIES 32: buckets average 32-64 players, far below the 512 pairs a hash keeps compact
-- by default (hash-max-ziplist-entries / hash-max-listpack-entries; with a lower setting the index
-- stays correct, only bigger). Every HGET/HSET scans its bucket: at 128 these scans were a third of
-- an apply's instructions; each bucket key costs ~100 bytes, ~3 bytes a player at 32.
-- A board indexed with a larger constant catches up by one split per new player.

local IX_BUCKET_ENTRIES = 32
local IX_CHUNK = 500   -- fields per HDEL/HSET when a split moves entries (bounded unpack)
local TS_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
local ts_key_cache = {}

local function ts_key(n)
  local cached = ts_key_cache[n]
  if cached then return cached end
  local out, v = {}, n
  for i = 8, 1, -1 do
    local d = v % 64
    out[i] = string.sub(TS_ALPHABET, d + 1, d + 1)
    v = (v - d) / 64
  end
  cached = table.concat(out)
  ts_key_cache[n] = cached
  return cached
end

-- A digit's value from its byte, by arithmetic on the alphabet's runs ('-' 45, '0'-'9' 48-57,
-- 'A'-'Z' 65-90, '_' 95, 'a'-'z' 97-122): every script runs this file's top level on each call, and
-- building a 64-entry digit table there cost more than a read script's own commands.
local function ts_digit(c)
  if c >= 97 then return c - 59 end
  if c == 95 then return 37 end
  if c >= 65 then return c - 54 end
  if c >= 48 then return c - 47 end
  return 0
end

local function ts_num(key)
  local a, b, c, d, e, f, g, h = string.byte(key, 1, 8)
  return ((((((ts_digit(a) * 64 + ts_digit(b)) * 64 + ts_digit(c)) * 64 + ts_digit(d)) * 64 + ts_digit(e)) * 64
          + ts_digit(f)) * 64 + ts_digit(g)) * 64 + ts_digit(h)
end

local function ts_hex(n)
  return string.format("%012x", n)
end

-- The bucket hash: the player's UTF-8 bytes, prefixed with 0x9E 0x37, read as a big-endian number
-- modulo the prime IX_P, then multiplied twice by IX_M modulo IX_P (the two multiplications spread
-- ids that differ only in their last characters over the low bits linear hashing uses). Plain
-- double arithmetic, all exact (h * 65536 + 65535 < 2^47, h * IX_M < 2^52): no C call per byte but
-- one string.byte per two bytes, about a tenth of redis.sha1hex + string.sub + tonumber for short
-- ids. region/rank_store_redis.py `fast_hash` is the same function in Python (a board built aside
-- writes its index there); tests/region/test_index_hash.py checks both agree and that buckets stay
-- as even as with SHA-1 for sequential, padded, e-mail, UUID and short ids.
local IX_P, IX_M = 2147483629, 1664525
local function ix_fast_hash(player)
  local h, byte = 40503, string.byte   -- 0x9E37
  local len = #player
  for i = 1, len - 1, 2 do
    local a, b = byte(player, i, i + 1)
    h = (h * 65536 + a * 256 + b) % IX_P
  end
  if len % 2 == 1 then h = (h * 256 + byte(player, len)) % IX_P end
  return ((h * IX_M) % IX_P * IX_M) % IX_P
end

local function ix_open(meta)
  local r = redis.call("HMGET", meta, "l", "p", "n", "k", "h")
  local n = tonumber(r[3]) or 0
  return {meta = meta, l = tonumber(r[1]) or 0, p = tonumber(r[2]) or 0, n = n,
          k = r[4] or (meta .. ":0"), fast = r[5] == "f" or n == 0, dirty = false, hashes = {}, buckets = {}}
end

local function ix_hash(ix, player)
  local h = ix.hashes[player]
  if not h then
    if ix.fast then
      h = ix_fast_hash(player)
    else
      h = tonumber(string.sub(redis.sha1hex(player), 1, 8), 16)
    end
    ix.hashes[player] = h
  end
  return h
end

-- The bucket key is looked up twice for a player who is written (ix_get, then ix_set): kept until
-- the next split moves buckets.
local function ix_bucket(ix, player)
  local key = ix.buckets[player]
  if key then return key end
  local h, size = ix_hash(ix, player), 2 ^ ix.l
  local b = h % size
  if b < ix.p then b = h % (size * 2) end
  key = ix.k .. ":" .. string.format("%d", b)
  ix.buckets[player] = key
  return key
end

-- The player's time key, or nil.
local function ix_get(ix, player)
  local v = redis.call("HGET", ix_bucket(ix, player), player)
  if v then return v end
  return nil
end


local function ix_del(ix, player)
  if redis.call("HDEL", ix_bucket(ix, player), player) == 1 then
    ix.n = ix.n - 1
    ix.dirty = true
  end
end

local function ix_split(ix)
  local size = 2 ^ ix.l
  local from = ix.k .. ":" .. string.format("%d", ix.p)
  local to = ix.k .. ":" .. string.format("%d", ix.p + size)
  local rows = redis.call("HGETALL", from)
  local moved, fields = {}, {}
  for i = 1, #rows, 2 do
    if ix_hash(ix, rows[i]) % (size * 2) ~= ix.p then
      fields[#fields + 1] = rows[i]
      moved[#moved + 1] = rows[i]; moved[#moved + 1] = rows[i + 1]
    end
  end
  for i = 1, #fields, IX_CHUNK do
    redis.call("HDEL", from, unpack(fields, i, math.min(i + IX_CHUNK - 1, #fields)))
  end
  for i = 1, #moved, 2 * IX_CHUNK do
    redis.call("HSET", to, unpack(moved, i, math.min(i + 2 * IX_CHUNK - 1, #moved)))
  end
  ix.p = ix.p + 1
  if ix.p == size then ix.l, ix.p = ix.l + 1, 0 end
  ix.buckets = {}
end

-- Splits as soon as an insert makes the index too full: a bucket that outgrew the compact
-- encoding would stay a big hash table even after the split emptied it (Redis never converts back).
local function ix_set(ix, player, key)
  local bucket = ix_bucket(ix, player)
  if redis.call("HSET", bucket, player, key) == 1 then
    ix.n = ix.n + 1
    if ix.n > IX_BUCKET_ENTRIES * (2 ^ ix.l + ix.p) then ix_split(ix) end
  end
  ix.dirty = true
end

-- Stores the index state; every writer calls it last.
local function ix_close(ix)
  if not ix.dirty then return end
  if ix.fast then
    redis.call("HSET", ix.meta, "l", string.format("%d", ix.l), "p", string.format("%d", ix.p),
               "n", string.format("%d", ix.n), "k", ix.k, "h", "f")
  else
    redis.call("HSET", ix.meta, "l", string.format("%d", ix.l), "p", string.format("%d", ix.p),
               "n", string.format("%d", ix.n), "k", ix.k)
  end
end

-- The player's current member, zscore, time key and zscore as Redis wrote it, or nil (an index
-- entry whose member is gone, e.g. the sorted set was deleted on its own, counts as no entry: the
-- next write replaces it).
local function ix_member(ix, z, player)
  local key = ix_get(ix, player)
  if not key then return nil end
  local member = key .. player
  local zs = redis.call("ZSCORE", z, member)
  if not zs then return nil end
  return member, tonumber(zs), key, zs
end

-- Number of buckets of an index state (for deleting a replaced generation).
local function ix_buckets(ix)
  return 2 ^ ix.l + ix.p
end
