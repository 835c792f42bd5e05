-- Anti-entropy repair: appends the current value of each named player to the board's change
-- stream, so the shipper sends it again with a fresh sequence number (which supersedes whatever
-- the global tier holds for this region). A player without an entry is announced as removed
-- (score field "x", as remove.lua writes it): the global tier may still hold a value whose removal
-- was trimmed from the stream before it was shipped.
-- KEYS: 1 zset  2 player index state (index.lua)  3 change stream.
-- ARGV: 1 desc ("1"/"0")  2 stream len max  3.. players
local z, chg = KEYS[1], KEYS[3]
local ix = ix_open(KEYS[2])
local desc = ARGV[1] == "1"
local lines = {}
for i = 3, #ARGV do
  local member, v, key = ix_member(ix, z, ARGV[i])
  if member then
    if desc then v = -v end
    if v == 0 then v = 0 end
    lines[#lines + 1] = ARGV[i] .. "\t" .. string.format("%.0f", v) .. "\t" .. ts_hex(ts_num(key))
  else
    lines[#lines + 1] = ARGV[i] .. "\tx\t" .. ts_hex(0)
  end
end
if #lines > 0 then
  redis.call("XADD", chg, "MAXLEN", "~", ARGV[2], "*", "d", table.concat(lines, "\n"))
end
return #lines
