"""What one check found: PASS, FAIL (with the message a user acts on) or SKIP (with the reason)."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass


class Status(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


class CheckFailed(Exception):
    """A finding. Its message is what the user reads, so it names the file and the value at fault."""


class CheckSkipped(Exception):
    """The check cannot run here; the message says why."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def line(self) -> str:
        """`STATUS name: first detail line (seconds)`, further detail lines indented below."""
        first, *rest = self.detail.splitlines() or [""]
        head = f"{self.status.value} {self.name}" + (f": {first}" if first else "") + f" ({self.seconds:.2f}s)"
        return "\n".join([head, *(f"     {line}" for line in rest)])


def run_check(name: str, check: Callable[[], str]) -> CheckResult:
    """Runs one check; it returns a short PASS detail or raises CheckFailed / CheckSkipped.

    Any other exception is a bug in the check, not a finding, and propagates."""
    start = time.perf_counter()
    try:
        detail = check()
        status = Status.PASS
    except CheckFailed as exc:
        detail, status = str(exc), Status.FAIL
    except CheckSkipped as exc:
        detail, status = str(exc), Status.SKIP
    return CheckResult(name, status, detail, time.perf_counter() - start)
