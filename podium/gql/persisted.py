"""Automatic persisted queries in Apollo's convention, plus the project's own documents.

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}` without the
query; a hash the server does not know is answered with `PERSISTED_QUERY_NOT_FOUND`, and the client
registers it by sending the query together with its hash (a query whose SHA-256 is not the hash is
refused). Persisted GET requests carry no document in the URL, so the URL is short and stable: the
form a CDN caches. Every document in `graphql/operations/` (the hash of the file's exact text) is
registered at start-up and never evicted; client registrations are a bounded LRU
(`api.persisted_queries_max`)."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from podium.errors import BadUserInput, PersistedQueryNotFound

_HASH = re.compile(r"[0-9a-f]{64}")


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()


def default_operations_dir() -> Path | None:
    """graphql/operations next to the package (a source checkout); absent in a bare wheel."""
    path = Path(__file__).resolve().parents[2] / "graphql" / "operations"
    return path if path.is_dir() else None


class PersistedQueries:
    def __init__(self, entries_max: int) -> None:
        self.entries_max = entries_max
        self.pinned: dict[str, str] = {}
        self.registered: OrderedDict[str, str] = OrderedDict()

    def register_directory(self, directory: Path) -> int:
        """Pins every `*.graphql` document directly in `directory`; returns how many."""
        count = 0
        for path in sorted(directory.glob("*.graphql")):
            text = path.read_text(encoding="utf-8")
            self.pinned[sha256_hex(text)] = text
            count += 1
        return count

    def get(self, digest: str) -> str | None:
        text = self.pinned.get(digest)
        if text is None:
            text = self.registered.get(digest)
            if text is not None:
                self.registered.move_to_end(digest)
        return text

    def register(self, digest: str, query: str) -> None:
        if digest in self.pinned or self.entries_max <= 0:
            return
        self.registered[digest] = query
        self.registered.move_to_end(digest)
        while len(self.registered) > self.entries_max:
            self.registered.popitem(last=False)

    def resolve(self, query: str | None, extensions: Any) -> str | None:
        """The document to run: the request's own, or the one its hash names."""
        if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
            return query
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise BadUserInput("extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": \"<hex>\"}")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or _HASH.fullmatch(digest) is None:
            raise BadUserInput("persistedQuery.sha256Hash must be 64 lower-case hex digits")
        if query is None:
            known = self.get(digest)
            if known is None:
                raise PersistedQueryNotFound("PersistedQueryNotFound")
            return known
        if sha256_hex(query) != digest:
            raise BadUserInput("provided sha does not match query")
        self.register(digest, query)
        return query


def persisted_queries(settings: Any, operations_dir: Path | None) -> PersistedQueries:
    """The store a tier serves, with its operation documents pinned (read once, at start-up)."""
    store = PersistedQueries(settings.api.persisted_queries_max)
    if operations_dir is not None:
        store.register_directory(operations_dir)
    return store
