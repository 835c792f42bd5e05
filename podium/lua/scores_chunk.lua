-- Scores only (no members) of positions ARGV[1]..ARGV[2], comma-joined in one string: feeding a
-- quantile sketch needs nothing else, and one string parses far faster than a reply per entry.
-- 14 significant digits (Lua's tostring) are plenty for a sketch whose error is ~0.1%.
local rows = redis.call("ZRANGE", KEYS[1], ARGV[1], ARGV[2], "WITHSCORES")
local out = {}
for i = 2, #rows, 2 do out[#out + 1] = rows[i] end
return table.concat(out, ",")
