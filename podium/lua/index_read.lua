-- The player index's read side, the prefix of the read scripts (read_players.lua, around.lua) in
-- place of index.lua: index.lua's top level (its writers, the time-key tables) and ix_open's
-- per-call tables cost a one-player read more Redis time than its own four commands. Preceded by
-- index.lua's own IX_P, IX_M and ix_fast_hash, cut from index.lua when loading
-- (region/rank_index.py `lua_with_index_reads`), so both find the same bucket as index.lua's
-- ix_bucket: h mod 2^l, or h mod 2^(l+1) below the split pointer p. No tables, no writes.

-- The index state: level, split pointer, bucket key prefix, and whether the fast hash applies.
local function ixr_open(meta)
  local r = redis.call("HMGET", meta, "l", "p", "n", "k", "h")
  return tonumber(r[1]) or 0, tonumber(r[2]) or 0, r[4] or (meta .. ":0"), r[5] == "f" or (tonumber(r[3]) or 0) == 0
end

-- The player's member, its time key and its zscore as Redis wrote it, or nil (as index.lua's
-- ix_member: an entry whose member is gone counts as no entry).
local function ixr_member(z, l, p, k, fast, player)
  local h
  if fast then
    h = ix_fast_hash(player)
  else
    h = tonumber(string.sub(redis.sha1hex(player), 1, 8), 16)
  end
  local size = 2 ^ l
  local b = h % size
  if b < p then b = h % (size * 2) end
  local key = redis.call("HGET", k .. ":" .. string.format("%d", b), player)
  if not key then return nil end
  local member = key .. player
  local zs = redis.call("ZSCORE", z, member)
  if not zs then return nil end
  return member, key, zs
end
