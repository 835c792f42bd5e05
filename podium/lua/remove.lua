-- Removes one player's entry and index entry and records the removal in the change stream (score
-- field "x", see podium.replication.changes), atomically, so the global tier drops this region's
-- value too.
-- KEYS: 1 zset  2 player index state (index.lua)  3 change stream.  ARGV: 1 player  2 stream len max
local ix = ix_open(KEYS[2])
local member, _, key = ix_member(ix, KEYS[1], ARGV[1])
ix_del(ix, ARGV[1])
ix_close(ix)
if not member then return 0 end
redis.call("ZREM", KEYS[1], member)
redis.call("XADD", KEYS[3], "MAXLEN", "~", ARGV[2], "*", "d", ARGV[1] .. "\tx\t" .. ts_hex(ts_num(key)))
return 1
