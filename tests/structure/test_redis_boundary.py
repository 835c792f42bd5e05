"""Only the adapters talk to Redis: no module of region/, global/ or replication/ outside the
adapter modules listed here calls a Redis client or imports the driver. Composition roots may hold
a client to hand it to adapters' constructors and close it (`aclose`), nothing else.

The scan reads the source (AST): a call `<x>.<command>(...)` whose receiver's name mentions redis
(`redis`, `self.redis`, `service.redis`, `_redis`...) or an `import redis` / `from redis...` is a
violation. A new adapter goes into ADAPTERS (one adapter per file, named `*_redis.py` where it can be)
and into the killed-Redis contract test (tests/kernel/test_store_adapters_down.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIERS = ("region", "global", "replication")
# Every module that may call Redis, relative to the checkout. Each translates store errors at its
# boundary (tests/kernel/test_store_adapters_down.py and the rooms' own contract tests).
ADAPTERS = frozenset({
    "region/rank_store_redis.py",
    "region/rank_store_reads_redis.py",         # RedisRankStore's reads
    "region/rank_store_moderation_redis.py",    # RedisRankStore's removals, bans, quarantine
    "region/bulk_load_redis.py",
    "region/rebuild_state_redis.py",
    "region/rebuild_leases_redis.py",
    "region/region_marks_redis.py",
    "region/idempotency_redis.py",
    "region/history/backlog_redis.py",
    "region/contests/store_redis.py",
    "region/contests/joins_redis.py",
    "region/contests/settlement_outbox_redis.py",
    "region/contests/feed_batch_redis.py",
    "region/trending/store_redis.py",
    "region/trending/sketch_compaction_redis.py",
    "region/trending/ship_redis.py",
    "region/trending/threshold_merge_redis.py",
    "region/trending/sketch_read_redis.py",
    "region/notifications/cursors_redis.py",
    "region/notifications/inbox_drain_redis.py",
    "region/notifications/inbox_redis.py",
    "region/notifications/inbox_window_redis.py",
    "region/notifications/journal_redis.py",
    "region/notifications/outbox_redis.py",
    "region/notifications/quarantine_feed_redis.py",
    "region/notifications/registrations_restore_redis.py",
    "region/notifications/data_watch_redis.py",
    "replication/change_feed_redis.py",
    "global/merged_store.py",
    "global/trending_store_redis.py",
    "global/notifications_outbox_redis.py",
    "global/merge_reference.py",   # GlobalStore's default merge: called only by it, inside its translation
})
LIFECYCLE = frozenset({"aclose"})   # closing the client a composition root opened


def _receiver_name(node: ast.expr) -> str:
    while isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def violations(path: Path) -> list[str]:
    """`line: what` for every Redis call or driver import in the module at `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "redis"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "redis":
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and "redis" in _receiver_name(node.func.value).lower() and node.func.attr not in LIFECYCLE):
            found.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
    return found


def scan(root: Path) -> dict[str, list[str]]:
    out = {}
    for tier in TIERS:
        for path in sorted((root / tier).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel not in ADAPTERS and (found := violations(path)):
                out[rel] = found
    return out


def test_no_module_outside_the_adapters_talks_to_redis() -> None:
    assert scan(ROOT) == {}


def test_every_listed_adapter_exists_and_talks_to_redis() -> None:
    """A stale entry would let a renamed module call Redis unchecked."""
    for rel in sorted(ADAPTERS):
        assert (ROOT / rel).is_file(), f"{rel} is listed as an adapter but does not exist"
        assert violations(ROOT / rel), f"{rel} is listed as an adapter but calls no Redis client"


@pytest.mark.parametrize("line", [
    "async def f(self): return await self.redis.get('k')",
    "async def f(service): return await service.redis.ping()",
    "def f(redis): return redis.register_script('return 1')",
    "from redis.exceptions import RedisError",
    "import redis.asyncio",
    "async def f(self): return await self._redis().hgetall('k')",
])
def test_a_redis_call_outside_an_adapter_is_found(tmp_path: Path, line: str) -> None:
    module = tmp_path / "region" / "handler.py"
    module.parent.mkdir(parents=True)
    module.write_text("from __future__ import annotations\n\n" + line + "\n")
    assert list(scan(tmp_path)) == ["region/handler.py"]


def test_closing_and_passing_a_client_is_allowed(tmp_path: Path) -> None:
    module = tmp_path / "global" / "wiring.py"
    module.parent.mkdir(parents=True)
    module.write_text("async def close(redis, make):\n    store = make(redis)\n    await redis.aclose()\n"
                      "    return store\n")
    assert scan(tmp_path) == {}
