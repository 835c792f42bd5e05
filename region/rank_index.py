"""The player index's layout, shared by the rank store (`rank_store_redis.py`) and the bulk loader
(`bulk_load_redis.py`): the bucket size and bucket hash index.lua uses, the time-to-live of a board
built aside, and the Lua scripts' text. Pure: no Redis calls here."""

from __future__ import annotations

from importlib import resources

IX_BUCKET_ENTRIES = 32   # the same constant as podium/lua/index.lua (a board built aside writes its index here)
DROP_CHUNK_KEYS = 1000   # replaced index buckets deleted per UNLINK
# A replace builds aside under keys that expire on their own, so a builder that dies mid-way leaves
# nothing behind for long; the swap removes the TTL from the live keys.
BUILD_TTL_MS = 3_600_000
# index.lua's bucket hash (ix_fast_hash): the UTF-8 bytes after 0x9E37, big-endian, mod a prime, mixed twice
IX_HASH_PRIME, IX_HASH_MIX, IX_HASH_PREFIX = 2_147_483_629, 1_664_525, b"\x9e\x37"


def fast_hash(player: str) -> int:
    """The player index's bucket hash, as index.lua's ix_fast_hash computes it (int.from_bytes runs in C)."""
    h = int.from_bytes(IX_HASH_PREFIX + player.encode(), "big") % IX_HASH_PRIME
    return h * IX_HASH_MIX % IX_HASH_PRIME * IX_HASH_MIX % IX_HASH_PRIME


def index_state(total: int) -> tuple[int, int]:
    """(level, next bucket to split) of an index holding `total` players inserted one by one
    (index.lua: ceil(total / IX_BUCKET_ENTRIES) buckets, at least one)."""
    buckets = max(1, -(-total // IX_BUCKET_ENTRIES))
    level = buckets.bit_length() - 1
    return level, buckets - (1 << level)


def lua(name: str) -> str:
    return resources.files("podium").joinpath(f"lua/{name}.lua").read_text()


def lua_with_index(name: str) -> str:
    """A script that finds members through the player index: index.lua's helpers come first."""
    return lua("index") + "\n" + lua(name)


def lua_with_index_reads(name: str) -> str:
    """A read script that finds members through the player index with index_read.lua's lookup,
    after index.lua's own bucket hash (its IX_P, IX_M and ix_fast_hash, cut from index.lua so the
    two cannot drift) instead of all of index.lua, whose set-up cost a read more than its commands."""
    index = lua("index")
    start = index.index("local IX_P, IX_M")
    end = index.index("\nend\n", index.index("local function ix_fast_hash", start)) + len("\nend\n")
    return index[start:end] + "\n" + lua("index_read") + "\n" + lua(name)
