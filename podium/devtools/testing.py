"""Helpers for tests and benchmarks: run a region on a real Hypercorn server in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Self

from podium.config import Settings
from podium.processes import stop_process, wait_ready
from podium.redis_server import free_port
from podium.serve import serve

START_TIMEOUT_S = 180.0  # a cold start imports for seconds; a loaded shared machine (load 25) takes ~60 s


class LiveServer:
    """An ASGI app served by Hypercorn on 127.0.0.1:<free port>, in its own thread and event loop."""

    def __init__(self, app_factory: Callable[[Settings], Any], settings: Settings) -> None:
        self.settings = settings
        if not settings.port or settings.port == 8080:
            settings.port = free_port()
        self.app_factory = app_factory
        self.app: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/graphql"

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self.app = self.app_factory(self.settings)   # tests may look at app.state.service
            await serve(self.app, "127.0.0.1", self.settings.port, self._stop,
                        self.settings.api.ws_message_bytes_max)

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="podium-live-server", daemon=True)
        self._thread.start()
        if wait_ready(self.url, START_TIMEOUT_S, alive=lambda: self._error is None, poll_s=0.05):
            return self
        if self._error:
            raise RuntimeError("server failed to start") from self._error
        raise RuntimeError(f"server did not become ready on {self.url}")

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerProcess:
    """`podium serve` as a child process (separate from the caller's GIL), for load tests and benches."""

    def __init__(self, env: dict[str, str], role: str = "region", cwd: str | None = None, workers: int = 1,
                 loop: str = "asyncio") -> None:
        import os

        self.workers = workers
        self.loop = loop
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k != "REDIS_URL"}
        self.env.update(env)
        if "PODIUM_DATA_DIR" not in self.env:
            import tempfile

            # Its own warm store (history, board definitions): a server never restores another's boards.
            self.env["PODIUM_DATA_DIR"] = tempfile.mkdtemp(prefix="podium-server-")
        self.env["PODIUM_PORT"] = str(self.port)
        self.env.setdefault("PODIUM_HOST", "127.0.0.1")
        self.role = role
        self.cwd = cwd
        self.stderr: Any = None   # inherit: a failing server says why
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> Self:
        import subprocess
        import sys
        import tempfile

        self.process = subprocess.Popen(
            [sys.executable, "-m", "podium", "serve", "--role", self.role, "--workers", str(self.workers),
             "--loop", self.loop],
            env=self.env,
            cwd=self.cwd or tempfile.gettempdir(), stdout=subprocess.DEVNULL, stderr=self.stderr,
        )
        proc = self.process
        if wait_ready(self.url, START_TIMEOUT_S, alive=lambda: proc.poll() is None, poll_s=0.05):
            return self
        if proc.poll() is not None:
            raise RuntimeError(f"podium serve exited with {proc.returncode}")
        self.stop()
        raise RuntimeError("podium serve did not become ready")

    def stop(self) -> None:
        if self.process:
            stop_process(self.process, 15)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
