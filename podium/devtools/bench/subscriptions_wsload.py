"""The subscription benchmark's native load generator (benchmarks/wsload, Go) from Python: built by
`.ci/setup-wsload.sh` (cached), run as one child process per measurement.

The Go client replaces the Python client processes because those ran on the same cores as the
server: a 10,000 storm measured them as much as the server. See docs/subscriptions.md "Measuring".
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import IO, Any, Self

ROOT = Path(__file__).resolve().parents[3]   # the checkout: podium/devtools/bench/ -> root
SETUP_SCRIPT = ROOT / ".ci" / "setup-wsload.sh"
GO_FALLBACK = Path("/usr/local/go/bin/go")
BUILD_TIMEOUT_S = 900        # a first build compiles the standard library on a loaded 2-core machine


class WsLoadUnavailable(RuntimeError):
    """No Go toolchain here (the benchmark may fall back to its Python clients, labelled as such)."""


def go_available() -> bool:
    return shutil.which("go") is not None or GO_FALLBACK.exists()


def wsload_binary() -> Path:
    """The built load generator (built now if its sources changed). Raises WsLoadUnavailable without
    Go or without the project's sources, RuntimeError when a build fails."""
    if not SETUP_SCRIPT.exists() or not (ROOT / "benchmarks" / "wsload" / "main.go").exists():
        raise WsLoadUnavailable(f"benchmarks/wsload is not in {ROOT}")
    if not go_available():
        raise WsLoadUnavailable("no Go toolchain (go on PATH or /usr/local/go/bin/go)")
    done = subprocess.run(["bash", str(SETUP_SCRIPT)], check=False, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"building benchmarks/wsload failed: {done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def processes_for(subscribers: int, spare_fds: int = 1024) -> int:
    """Load-generator processes for `subscribers` sockets: one unless that exceeds the open-file
    hard limit a process may reach (20,000 here, and not raisable without privileges)."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    per = hard - spare_fds if hard != resource.RLIM_INFINITY else subscribers
    return max(1, -(-subscribers // max(per, 1)))


class WsLoad:
    """One run of the load generator: `connected()` once every subscriber has its initial state (or
    failed), `done()` once each got `messages` pushed messages or the listen timeout passed."""

    def __init__(self, url: str, query: str, variables: dict[str, Any], subscribers: int, *,
                 concurrency: int = 100, rate_per_s: float = 0.0, messages: int = 0,
                 listen_timeout_s: float = 30.0, connect_timeout_s: float = 60.0, attempts: int = 5,
                 stamp_field: str = "achievedAt", raw: bool = False, binary: Path | None = None) -> None:
        self.args = [str(binary or wsload_binary()), "-url", url, "-query", query,
                     "-variables", json.dumps(variables), "-n", str(subscribers),
                     "-concurrency", str(concurrency), "-rate", str(rate_per_s), "-messages", str(messages),
                     "-listen-timeout", f"{listen_timeout_s}s", "-connect-timeout", f"{connect_timeout_s}s",
                     "-attempts", str(attempts), "-stamp-field", stamp_field] + (["-raw"] if raw else [])
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Self:
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def _line(self, phase: str) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            err: IO[str] | None = self.process.stderr
            raise RuntimeError(f"wsload ended before its {phase!r} line: {err.read()[-2000:] if err else ''}")
        out: dict[str, Any] = json.loads(line)
        if out.get("phase") != phase:
            raise RuntimeError(f"wsload: expected the {phase!r} line, got {line[:500]}")
        return out

    def connected(self) -> dict[str, Any]:
        return self._line("connected")

    def done(self) -> dict[str, Any]:
        return self._line("done")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self.process is not None and self.process.poll() is None:
            self.process.kill()
        self.stop()
