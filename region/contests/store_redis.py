"""Contests in Redis: matches and teams, contest entries, the player → entries index and the live
board. Every write that must not slip past the deadline checks Redis's own clock (TIME) inside
the same Lua call that writes, so no caller's clock can let an edit in after the lock.

Key layout (hash tags keep one match's, and one contest's, keys in one cluster slot):
    ctm:{M}:def            match definition (JSON) and deadline
    ctm:{M}:rules          scoring rules by version (hash version → JSON)
    ctm:{M}:teams          team key (owner/id) → team JSON (with version)
    ctm:{M}:contests       contest ids of the match
    ctm:{M}:events         feed event id → "player \t delta \t voids"
    ct:{C}:def             contest definition (JSON), deadline_ms, state (open/locked/indexed/settled/void)
    ct:{C}:entries         entry key (owner/team) → "version \t player=multiplier,…"
    ct:{C}:owners          owner → number of entries
    ct:{C}:idx:<player>    list: (multiplier, entry) pairs of the entries holding the player (frozen once indexed)
    ct:{C}:idxcur          indexing progress: "scan:<HSCAN cursor>", "rank:<board position>", "done"
    ct:{C}:players         players with an index list; ct:{C}:pg:<player>: its list's length (entries) after
                           each index page (a feed batch applies a page of every player's list at a time)
    ct:{C}:bt:<batch>      a feed batch in progress: next page, its events, summed delta per player
    ct:{C}:board           zset: entry → −points (ascending = best first; equal points by entry key)
    ct:{C}:ev:<event>      fan-out progress of one feed event: next index position, or "done"
    ct:{C}:ver             the board's version: bumped by every change (live ticks read it)
Board points are in ten-thousandths: player points (hundredths) × multiplier (hundredths).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from podium.region.contests.model import Contest, Match, Team

from podium.errors import NotFound
from podium.model import RankedEntry
from podium.redis_client import AnyRedis, as_text, scored_members, store_reply

T = TypeVar("T")
FANOUT_CHUNK_ENTRIES = 1_000      # entries updated per Lua call: bounds how long a tick's reads wait behind it (docs/contests.md)
INDEX_SCAN_ENTRIES = 1_000        # entries read per HSCAN (one Lua call) while indexing a locked contest
INDEX_ZADD_MEMBERS = 2_000        # members per command inside the Lua calls (Lua's unpack stack is ~8,000)
BOARD_SCALE = 10_000              # board points per player point


CONTEST_INDEX_KEY = "ctx:contests"   # zset: contest id -> deadline ms (the live page's contest list)


def match_key(match: str, part: str) -> str:
    return f"ctm:{{{match}}}:{part}"


def contest_key(contest: str, part: str) -> str:
    return f"ct:{{{contest}}}:{part}"


# Lua helper: the span of a team document's list of joined contests. Team JSON is written by
# orjson (or by these scripts) without spaces, and contest ids are [A-Za-z0-9_.:-] only, so the
# list is the text between '"contests":[' and the next ']' (a '"' inside a JSON string is escaped,
# so the key cannot be matched inside a value). Returns the document (with an empty list added
# if it had none), the position after '[' and the position of ']'. String edits instead of
# cjson: decoding and re-encoding the document cost Redis 4-5x more CPU per team.
CONTESTS_SPAN_LUA = """
local function contests_span(doc)
  local _, open = string.find(doc, '"contests":[', 1, true)
  if not open then
    doc = string.sub(doc, 1, -2) .. ',"contests":[]}'
    _, open = string.find(doc, '"contests":[', 1, true)
  end
  return doc, open + 1, string.find(doc, ']', open + 1, true)
end
"""

# Returns 1 saved, 0 changed meanwhile (nothing written: read again and retry), -1 locked (Redis
# time ≥ deadline). ARGV: team key, team JSON, deadline, the document the caller read ('' for none).
# A compare-and-set on the whole document: a version is given once, and the list of joined contests
# the caller validated the line-up against (and carries into the new document) is the stored one;
# a join recorded in between makes the save read again and check that contest's rules too.
_SAVE_TEAM = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now >= tonumber(ARGV[3]) then return -1 end
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# Join or update an entry. KEYS: def, entries, owners. ARGV: entry key, owner, composition,
# capacity, per-owner max, mode ("join" | "update"). Returns 1 joined/updated, 0 already joined
# (join) or not joined (update), -1 locked, -2 full, -3 owner at max. An update never goes back:
# it writes only a composition of a newer team version than the stored one (saves and joins
# racing to update one entry end on the newest version whatever order they arrive in).
ENTRY_LUA = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline_ms'))
local state = redis.call('HGET', KEYS[1], 'state')
if (not deadline) or now >= deadline or state ~= 'open' then return -1 end
local exists = redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1
if ARGV[6] == 'update' then
  if not exists then return 0 end
  local stored = redis.call('HGET', KEYS[2], ARGV[1])
  if tonumber(string.match(stored, '^%d+')) < tonumber(string.match(ARGV[3], '^%d+')) then
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  end
  return 1
end
if exists then return 0 end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return -2 end
if tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0') >= tonumber(ARGV[5]) then return -3 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1
"""

# Lock a contest once Redis time has reached its deadline. Returns the state after the call.
_LOCK = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'open' and now >= tonumber(redis.call('HGET', KEYS[1], 'deadline_ms')) then
  redis.call('HSET', KEYS[1], 'state', 'locked')
  return 'locked'
end
return state
"""

# One chunk of one feed event's fan-out, atomic with its progress, so a crash or a replay resumes
# where it stopped and no entry is counted twice. KEYS: progress, index, board, version (live ticks
# read it). ARGV: delta (player points, hundredths), chunk size (entries). The index is a list of
# (multiplier, entry) pairs. One ZINCRBY per entry, its increment passed as a string formatted
# once per multiplier: a Lua number argument is formatted by Redis with snprintf('%.17g') on every
# call, a fifth of the script's instructions (callgrind, docs/contests.md). Reading a group's points
# with ZMSCORE and writing them back with one multi-member ZADD, or recomputing each team's points
# from its players' totals in Lua, cost as much or more: ZMSCORE formats each score as a double
# too, and Lua spent more per team on the arithmetic than the ZINCRBY calls it saved.
# Returns entries updated (0 when already done).
_FANOUT = """
local pos = redis.call('GET', KEYS[1])
if pos == 'done' then return 0 end
pos = tonumber(pos or '0')
local n = tonumber(ARGV[2])
local rows = redis.call('LRANGE', KEYS[2], 2 * pos, 2 * (pos + n) - 1)
local delta = tonumber(ARGV[1])
local call, board, by_mult = redis.call, KEYS[3], {}
for i = 1, #rows, 2 do
  local mult = rows[i]
  local by = by_mult[mult]
  if not by then
    by = string.format('%.17g', -delta * tonumber(mult))
    by_mult[mult] = by
  end
  call('ZINCRBY', board, by, rows[i + 1])
end
local got = #rows / 2
if got < n then redis.call('SET', KEYS[1], 'done') else redis.call('SET', KEYS[1], pos + got) end
if got > 0 then redis.call('INCR', KEYS[4]) end
return got
"""


# Index a locked contest, one step per call, atomic with its progress (KEYS[3]), so a crash
# between calls resumes at the next step. KEYS: entries, board, progress, players. ARGV: count, the index
# key prefix, members per command, the page marks' key prefix. Two passes:
#   "scan:<cursor>"  one HSCAN page of entries onto the board at 0 points (ZADD NX: an entry HSCAN
#                    returns twice is added once);
#   "rank:<pos>"     `count` board members from rank pos, in board order (all at 0 points: entry
#                    order), with their compositions (HMGET), appended to each player's list of
#                    (multiplier, entry) pairs (RPUSH: O(1) per entry, where a sorted set cost
#                    O(log n)). Walking the board by rank writes each entry once, and the lists
#                    come out in the board's own order, so a fan-out walks the board's skiplist
#                    in order (measured ~2x less Redis CPU per team than in hash order).
# Returns 1 when every entry is indexed, else 0.
_INDEX = """
local progress = redis.call('GET', KEYS[3]) or 'scan:0'
if progress == 'done' then return 1 end
local count, per = tonumber(ARGV[1]), tonumber(ARGV[3])
local step, at = string.sub(progress, 1, 4), string.sub(progress, 6)
if step == 'scan' then
  local page = redis.call('HSCAN', KEYS[1], at, 'COUNT', count)
  local rows, board = page[2], {'NX'}
  for i = 1, #rows, 2 do
    board[#board + 1] = 0
    board[#board + 1] = rows[i]
    if #board > 2 * per then redis.call('ZADD', KEYS[2], unpack(board)); board = {'NX'} end
  end
  if #board > 1 then redis.call('ZADD', KEYS[2], unpack(board)) end
  redis.call('SET', KEYS[3], page[1] == '0' and 'rank:0' or ('scan:' .. page[1]))
  return 0
end
local pos = tonumber(at)
local members = redis.call('ZRANGE', KEYS[2], pos, pos + count - 1)
local by_player = {}
local function flush(key, args)
  if #args > 0 then redis.call('RPUSH', key, unpack(args)) end
end
for first = 1, #members, per do
  local group = {}
  for i = first, math.min(#members, first + per - 1) do group[#group + 1] = members[i] end
  local comps = redis.call('HMGET', KEYS[1], unpack(group))
  for j = 1, #group do
    local entry, comp = group[j], comps[j]
    local items = string.sub(comp, string.find(comp, '\t', 1, true) + 1)
    for player, mult in string.gmatch(items, '([^,=]+)=(%d+)') do
      local args = by_player[player]
      if not args then args = {}; by_player[player] = args end
      args[#args + 1] = mult
      args[#args + 1] = entry
      if #args >= 2 * per then flush(ARGV[2] .. player, args); by_player[player] = {} end
    end
  end
end
for player, args in pairs(by_player) do flush(ARGV[2] .. player, args) end
-- Page marks: after each page, every player's list length (ct:{C}:pg:<player>), so a batch of feed
-- events reads one page of each of its players' lists and updates each team once (feed_batch_redis).
-- Written only by an index that began this pass with them (KEYS[4], the set of players, exists).
if pos == 0 or redis.call('EXISTS', KEYS[4]) == 1 then
  local page = pos / count
  for player in pairs(by_player) do
    if redis.call('SADD', KEYS[4], player) == 1 and page > 0 then
      local zeros = {}
      for i = 1, page do
        zeros[#zeros + 1] = 0
        if #zeros >= per then redis.call('RPUSH', ARGV[4] .. player, unpack(zeros)); zeros = {} end
      end
      if #zeros > 0 then redis.call('RPUSH', ARGV[4] .. player, unpack(zeros)) end
    end
  end
  for _, player in ipairs(redis.call('SMEMBERS', KEYS[4])) do
    redis.call('RPUSH', ARGV[4] .. player, redis.call('LLEN', ARGV[2] .. player) / 2)
  end
end
if #members < count then redis.call('SET', KEYS[3], 'done'); return 1 end
redis.call('SET', KEYS[3], 'rank:' .. (pos + #members))
return 0
"""


def composition(team: Team, mults: dict[str, int], version: int) -> str:
    return f"{version}\t" + ",".join(f"{p}={mults[p]}" for p in sorted(mults))


def parse_composition(raw: str) -> tuple[int, dict[str, int]]:
    version, _, rest = raw.partition("\t")
    return int(version), {p: int(m) for p, _, m in (item.partition("=") for item in rest.split(",") if item)}


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    entry: str
    points: float


class RedisContestStore:
    def __init__(self, redis: AnyRedis, fanout_chunk_entries: int = FANOUT_CHUNK_ENTRIES,
                 index_scan_entries: int = INDEX_SCAN_ENTRIES) -> None:
        self.redis = redis
        self.fanout_chunk_entries = fanout_chunk_entries
        self.index_scan_entries = index_scan_entries
        self._save_team = redis.register_script(_SAVE_TEAM)
        self._entry = redis.register_script(ENTRY_LUA)
        self._lock = redis.register_script(_LOCK)
        self._fanout = redis.register_script(_FANOUT)
        self._index = redis.register_script(_INDEX)

    async def _call(self, pending: Awaitable[T]) -> T:
        return await store_reply(pending, "contest store")

    # -- matches, rules, contests -------------------------------------------------------------
    async def save_match(self, match: Match) -> None:
        await self._call(self.redis.hset(match_key(match.id, "def"), mapping={
            "doc": orjson.dumps(match.to_dict()), "deadline_ms": match.deadline_ms}))

    async def match(self, match_id: str) -> Match:
        raw = await self._call(self.redis.hget(match_key(match_id, "def"), "doc"))
        if raw is None:
            raise NotFound(f"no match {match_id!r}")
        return Match.from_dict(orjson.loads(raw))

    async def save_rules(self, match_id: str, version: int, doc: dict[str, Any]) -> bool:
        """False when that version exists already with other rules (rules are immutable per version)."""
        key, body = match_key(match_id, "rules"), orjson.dumps(doc)
        if await self._call(self.redis.hsetnx(key, str(version), body)):
            return True
        return bool(await self._call(self.redis.hget(key, str(version))) == body)

    async def rules(self, match_id: str) -> dict[int, dict[str, Any]]:
        raw = await self._call(self.redis.hgetall(match_key(match_id, "rules")))
        return {int(k): orjson.loads(v) for k, v in raw.items()}

    async def create_contest(self, contest: Contest, match: Match) -> bool:
        """False when a contest with that id exists already (with any definition)."""
        key = contest_key(contest.id, "def")
        created = await self._call(self.redis.hsetnx(key, "doc", orjson.dumps(contest.to_dict())))
        if created:
            await self._call(self.redis.hset(key, mapping={"deadline_ms": match.deadline_ms, "state": "open"}))
            await self._call(self.redis.sadd(match_key(match.id, "contests"), contest.id))
            await self._call(self.redis.zadd(CONTEST_INDEX_KEY, {contest.id: match.deadline_ms}))
        return bool(created)

    async def lock_notice(self, contest_id: str, owners_max: int) -> tuple[int, str, list[str]] | None:
        """(deadline ms, state, up to `owners_max` entry owners) for `contest_locking` notifications;
        None for an unknown contest. Owners are read with HSCAN, so a huge contest costs a bounded read."""
        raw = await self._call(self.redis.hmget(contest_key(contest_id, "def"), ["deadline_ms", "state"]))
        if raw[0] is None:
            return None
        owners: set[str] = set()
        cursor = 0
        while len(owners) < owners_max:
            reply: Any = await self._call(self.redis.hscan(contest_key(contest_id, "entries"), cursor,
                                                           count=min(1000, owners_max)))
            cursor, page = reply
            owners.update(as_text(k).split("/", 1)[0] for k in page)
            if cursor == 0:
                break
        return int(raw[0]), as_text(raw[1] or b"open"), sorted(owners)[:owners_max]

    async def recent_contests(self, count: int) -> list[tuple[str, str, int]]:
        """(id, state, deadline ms) of the `count` contests with the latest deadlines, latest first."""
        rows: Any = await self._call(self.redis.zrevrange(CONTEST_INDEX_KEY, 0, count - 1, withscores=True))
        out = []
        for member, deadline in rows:
            ident = as_text(member)
            state = await self._call(self.redis.hget(contest_key(ident, "def"), "state"))
            if state is not None:        # a contest deleted behind the index is skipped
                out.append((ident, as_text(state), int(deadline)))
        return out

    async def contest(self, contest_id: str) -> tuple[Contest, str]:
        raw = await self._call(self.redis.hmget(contest_key(contest_id, "def"), ["doc", "state"]))
        if raw[0] is None:
            raise NotFound(f"no contest {contest_id!r}")
        return Contest.from_dict(orjson.loads(raw[0])), as_text(raw[1] or b"open")

    async def set_state(self, contest_id: str, state: str) -> None:
        await self._call(self.redis.hset(contest_key(contest_id, "def"), "state", state))

    async def contests_of(self, match_id: str) -> list[str]:
        raw = await self._call(self.redis.smembers(match_key(match_id, "contests")))
        return sorted(as_text(m) for m in raw)

    # -- teams and entries ---------------------------------------------------------------------
    async def team(self, match_id: str, key: str) -> dict[str, Any] | None:
        raw = await self.team_document(match_id, key)
        return None if raw is None else orjson.loads(raw)

    async def team_document(self, match_id: str, key: str) -> bytes | None:
        """The stored team JSON as it is (save_team's compare-and-set compares against it)."""
        raw = await self._call(self.redis.hget(match_key(match_id, "teams"), key))
        return raw.encode() if isinstance(raw, str) else raw

    async def save_team(self, team: Team, version: int, deadline_ms: int, contests: list[str],
                        read: bytes | None) -> int:
        """1 saved, 0 the stored document is no longer `read` (nothing written), -1 locked."""
        doc = orjson.dumps({**team.to_dict(), "version": version, "contests": contests})
        return int(await self._call(self._save_team(keys=[match_key(team.match, "teams")],
                                                    args=[team.key, doc, deadline_ms, read or b""])))

    async def entry(self, contest: Contest, team: Team, comp: str, mode: str) -> int:
        keys = [contest_key(contest.id, "def"), contest_key(contest.id, "entries"), contest_key(contest.id, "owners")]
        return int(await self._call(self._entry(keys=keys, args=[
            team.key, team.owner, comp, contest.capacity, contest.entries_per_player_max, mode])))

    async def entries(self, contest_id: str) -> dict[str, str]:
        raw = await self._call(self.redis.hgetall(contest_key(contest_id, "entries")))
        return {as_text(k): as_text(v) for k, v in raw.items()}

    async def entry_count(self, contest_id: str) -> int:
        return int(await self._call(self.redis.hlen(contest_key(contest_id, "entries"))))

    # -- lock, index, fan-out ------------------------------------------------------------------
    async def lock(self, contest_id: str) -> str:
        state = await self._call(self._lock(keys=[contest_key(contest_id, "def")]))
        return state.decode() if isinstance(state, bytes) else str(state)

    async def build_index(self, contest_id: str) -> None:
        """Index a locked contest: every entry into the board (0 points), then, in board order, into
        the index of each of its players; one page per Lua call. Entries no longer change once
        locked, so the scan sees a frozen hash; the progress advances in the same call that writes
        a page, so a re-run after a crash resumes where it stopped."""
        while not await self.index_page(contest_id):
            pass
        await self._call(self.redis.incr(contest_key(contest_id, "ver")))

    async def index_page(self, contest_id: str) -> bool:
        """Indexes the next page; True once the whole contest is indexed."""
        keys = [contest_key(contest_id, "entries"), contest_key(contest_id, "board"), contest_key(contest_id, "idxcur"),
                contest_key(contest_id, "players")]
        done = await self._call(self._index(keys=keys, args=[self.index_scan_entries, contest_key(contest_id, "idx:"),
                                                             INDEX_ZADD_MEMBERS, contest_key(contest_id, "pg:")]))
        return int(done) == 1

    async def fan_out(self, contest_id: str, event_id: str, player: str, delta: int) -> int:
        """Applies one event's delta to every entry holding `player`, chunk by chunk; returns how
        many entries this call updated (0 if the event was applied before)."""
        keys = [contest_key(contest_id, f"ev:{event_id}"), contest_key(contest_id, f"idx:{player}"),
                contest_key(contest_id, "board"), contest_key(contest_id, "ver")]
        total = 0
        while True:
            got = int(await self._call(self._fanout(keys=keys, args=[delta, self.fanout_chunk_entries])))
            total += got
            if got < self.fanout_chunk_entries:
                return total

    async def record_event(self, match_id: str, event_id: str, record: str) -> str:
        """Stores a feed event once; returns the record stored under its id (the first one wins)."""
        key = match_key(match_id, "events")
        await self._call(self.redis.hsetnx(key, event_id, record))
        stored = await self._call(self.redis.hget(key, event_id))
        return as_text(stored) if stored is not None else record

    async def event(self, match_id: str, event_id: str) -> str | None:
        raw = await self._call(self.redis.hget(match_key(match_id, "events"), event_id))
        return None if raw is None else as_text(raw)

    # -- reads ---------------------------------------------------------------------------------
    async def top(self, contest_id: str, start: int, count: int) -> list[Standing]:
        rows = scored_members(await self._call(self.redis.zrange(contest_key(contest_id, "board"), start,
                                                                 start + count - 1, withscores=True)))
        return [Standing(start + i + 1, m.decode(), -s / BOARD_SCALE + 0.0) for i, (m, s) in enumerate(rows)]

    async def standing(self, contest_id: str, entry: str) -> Standing | None:
        key = contest_key(contest_id, "board")
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrank(key, entry)
        pipe.zscore(key, entry)
        rank, score = await self._call(pipe.execute())
        return None if rank is None else Standing(int(rank) + 1, entry, -float(score) / BOARD_SCALE + 0.0)

    async def all_standings(self, contest_id: str, chunk: int = 10_000) -> list[tuple[str, int]]:
        """(entry, board points) best first, read in bounded chunks."""
        out: list[tuple[str, int]] = []
        while True:
            start = len(out)
            rows = scored_members(await self._call(self.redis.zrange(contest_key(contest_id, "board"), start,
                                                                     start + chunk - 1, withscores=True)))
            out.extend((m.decode(), -int(s)) for m, s in rows)
            if len(rows) < chunk:
                return out

    async def ranked(self, contest_id: str, start: int, count: int) -> list[RankedEntry]:
        """A page as the fan-out hub reads boards: player = entry key, score = points × BOARD_SCALE."""
        rows = scored_members(await self._call(self.redis.zrange(contest_key(contest_id, "board"), start,
                                                                 start + count - 1, withscores=True)))
        return [RankedEntry(start + i + 1, m.decode(), -int(s), 0) for i, (m, s) in enumerate(rows)]

    async def ranked_ranges(self, contest_id: str, ranges: list[tuple[int, int]]) -> list[list[RankedEntry]]:
        """Many (start, count) pages of the board in one round trip (the hub's overtaken reads)."""
        key = contest_key(contest_id, "board")
        pipe = self.redis.pipeline(transaction=False)
        for start, count in ranges:
            pipe.zrange(key, start, start + count - 1, withscores=True)
        pages = await self._call(pipe.execute())
        return [[RankedEntry(start + i + 1, m.decode(), -int(s), 0) for i, (m, s) in enumerate(scored_members(rows))]
                for (start, _), rows in zip(ranges, pages, strict=True)]

    async def ranked_entries(self, contest_id: str, entries: list[str]) -> list[RankedEntry | None]:
        key = contest_key(contest_id, "board")
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            pipe.zrank(key, entry)
            pipe.zscore(key, entry)
        raw = await self._call(pipe.execute())
        return [None if r is None else RankedEntry(int(r) + 1, e, -int(sc), 0)
                for e, r, sc in zip(entries, raw[::2], raw[1::2], strict=True)]

    async def versions(self, contest_ids: list[str]) -> dict[str, str]:
        pipe = self.redis.pipeline(transaction=False)
        for contest_id in contest_ids:
            pipe.get(contest_key(contest_id, "ver"))
        raw = await self._call(pipe.execute())
        return {c: (v or b"0").decode() for c, v in zip(contest_ids, raw, strict=True)}

    async def settlement(self, contest_id: str) -> dict[str, Any] | None:
        raw = await self._call(self.redis.hget(contest_key(contest_id, "def"), "settlement"))
        return None if raw is None else orjson.loads(raw)

    async def save_settlement(self, contest_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Stores the settlement once; returns the stored one (a concurrent settle's, if it won)."""
        key = contest_key(contest_id, "def")
        await self._call(self.redis.hsetnx(key, "settlement", orjson.dumps(doc)))
        stored = await self.settlement(contest_id)
        assert stored is not None
        return stored
