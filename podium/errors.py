"""The user-facing exception tree, mapped once to GraphQL `extensions.code` and HTTP statuses.

    PodiumError
    ├── BadUserInput        BAD_USER_INPUT   400
    │   └── PayloadTooLarge BAD_USER_INPUT   413
    ├── Unauthenticated     UNAUTHENTICATED  401
    ├── Forbidden           FORBIDDEN        403
    ├── NotFound            NOT_FOUND        404
    ├── PersistedQueryNotFound PERSISTED_QUERY_NOT_FOUND 200 (Apollo's convention: the client registers the query)
    ├── Conflict            CONFLICT         409
    │   └── InProgress      CONFLICT         409   (+ Retry-After: the same request is still running)
    ├── ContestLocked       CONTEST_LOCKED   423   (entries and team edits are locked at the deadline)
    ├── RateLimited         RATE_LIMITED     429
    ├── Unavailable         UNAVAILABLE      503   (a store is down or refusing writes: retry later)
    │   └── Rebuilding      REBUILDING       503   (the board is being rebuilt from the warm store)
    └── Internal            INTERNAL         500   (never leaks details to the client)

Driver errors (redis, aiokafka, cassandra) are translated at the adapter with `raise ... from exc`
(for Redis adapters by `podium.store_errors.translate_store_errors`, on every public method).
"""

from __future__ import annotations

from typing import Any


class PodiumError(Exception):
    code = "INTERNAL"
    http_status = 500

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extensions}}


class BadUserInput(PodiumError):
    code = "BAD_USER_INPUT"
    http_status = 400


class PayloadTooLarge(BadUserInput):
    http_status = 413


class PersistedQueryNotFound(PodiumError):
    """A persisted-query hash the server does not know: not a failure but a cache miss the client
    answers by sending the query with its hash (Apollo's protocol), hence a 200."""
    code = "PERSISTED_QUERY_NOT_FOUND"
    http_status = 200


class Conflict(PodiumError):
    """The request contradicts the state it meets (a board that exists, a reused Idempotency-Key)."""

    code = "CONFLICT"
    http_status = 409


class ContestLocked(PodiumError):
    """The contest's deadline has passed (by the server's clock): entries and team edits are refused."""

    code = "CONTEST_LOCKED"
    http_status = 423


class InProgress(Conflict):
    """The same request (same Idempotency-Key) is still being processed: retry after `retryAfter`."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message, retryAfter=retry_after_s)


class Unauthenticated(PodiumError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(PodiumError):
    code = "FORBIDDEN"
    http_status = 403


class NotFound(PodiumError):
    code = "NOT_FOUND"
    http_status = 404


class RateLimited(PodiumError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float, **extensions: Any) -> None:
        super().__init__(message, retryAfter=retry_after_s, **extensions)
        self.retry_after_s = retry_after_s


class Unavailable(PodiumError):
    """A store is down, loading, or refusing writes (disk or memory full): retry after `retryAfter` s."""

    code = "UNAVAILABLE"
    http_status = 503


class Rebuilding(Unavailable):
    """The board is being rebuilt from the warm store: its ranks are withheld, its writes refused,
    until the rebuild swaps the new board in (seconds; `retryAfter` says how long to wait)."""

    code = "REBUILDING"

    def __init__(self, board: str, retry_after_s: float = 1.0) -> None:
        super().__init__(f"board {board!r} is being rebuilt from the warm store; retry shortly",
                         retryAfter=retry_after_s)


class Internal(PodiumError):
    code = "INTERNAL"
    http_status = 500
