"""stop_process: SIGTERM first, SIGKILL only for a child that ignores it, an exited child just reaped;
wait_ready: True once /readyz answers 200, False when the server dies or the time is up."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from podium.processes import stop_process, wait_ready

# Prints "ready" once its SIGTERM handling is set up, then sleeps far longer than any test waits.
CHILD = "import signal, sys, time\n{setup}\nprint('ready', flush=True)\ntime.sleep(120)\n"


def _child(setup: str = "") -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(setup=setup)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_child_that_honours_sigterm_stops_with_it() -> None:
    with _child() as proc:
        stop_process(proc, timeout_s=30)
    assert proc.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    with _child("signal.signal(signal.SIGTERM, signal.SIG_IGN)") as proc:
        stop_process(proc, timeout_s=0.5)
    assert proc.returncode == -signal.SIGKILL


def test_an_exited_child_is_only_reaped() -> None:
    with subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]) as proc:
        proc.wait(timeout=30)
        stop_process(proc, timeout_s=30)
    assert proc.returncode == 3


class _Readyz(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []   # status codes, in order; the last repeats

    def do_GET(self) -> None:
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.send_response(status if self.path == "/readyz" else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _server(answers: list[int]) -> Iterator[str]:
    handler = type("Handler", (_Readyz,), {"answers": list(answers)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_wait_ready_waits_through_not_ready_answers() -> None:
    with _server([503, 503, 200]) as url:
        assert wait_ready(url, timeout_s=30, poll_s=0.01) is True


def test_wait_ready_gives_up_when_the_server_dies_or_the_time_is_up() -> None:
    with _server([503]) as url:
        assert wait_ready(url, timeout_s=30, alive=lambda: False) is False
        started = time.monotonic()
        assert wait_ready(url, timeout_s=0.3, poll_s=0.01) is False
        assert time.monotonic() - started < 30
