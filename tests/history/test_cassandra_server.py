"""The Cassandra test-server launcher: the java child dies with a SIGKILLed parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from podium.redis_server import pids_alive

SCRIPT = """
import sys, time
from pathlib import Path
from podium.devtools.cassandra_server import CassandraServer
server = CassandraServer(Path(sys.argv[1])).spawn()   # the JVM exists; no need to wait for CQL
print(server.process.pid, flush=True)
time.sleep(600)
"""


def test_server_dies_with_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    assert parent.stdout is not None
    java_pid = int(parent.stdout.readline())
    assert pids_alive([java_pid]) == [java_pid]
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    parent.stdout.close()
    deadline = time.monotonic() + 15
    while pids_alive([java_pid]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_alive([java_pid]) == []
