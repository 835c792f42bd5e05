"""What `podium up` leaves for its operator: a lock on the data dir (one `podium up` per data dir),
and `<data dir>/podium-up.json` with the URLs and keys of what it started, which `podium env`
prints as shell exports (README recipes read them from there)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

LOCK_FILE = "podium-up.lock"
ENV_FILE = "podium-up.json"


class DataDirBusy(Exception):
    """Another `podium up` holds the data dir."""


class PortBusy(Exception):
    """The port to serve on is taken by a listening socket."""


def port_in_use(host: str, port: int) -> bool:
    """True only when something listens on the port. SO_REUSEADDR, as the server binds: sockets of
    an earlier run left in TIME_WAIT do not make the port busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


@dataclass
class DataDirLock:
    """An exclusive flock on `<data dir>/podium-up.lock`, released when the process exits (even on
    kill -9). The file says who holds it, for the refusal message."""

    data_dir: Path
    _file: IO[str] | None = field(default=None, repr=False)

    def acquire(self, holder: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        f = (self.data_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise DataDirBusy(f"{self.data_dir} is in use by {who}; stop it, or pass another --data-dir") from None
        self._file = f
        self.describe(holder)

    def describe(self, holder: str) -> None:
        """What a refused `podium up` is told about the holder."""
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(f"podium up (pid {os.getpid()}) {holder}")
            self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def write_env(data_dir: Path, values: dict[str, str]) -> Path:
    """Writes what `podium env` prints (owner-only: it holds secrets)."""
    path = data_dir / ENV_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "env": values}, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def read_env(data_dir: Path) -> dict[str, Any]:
    return json.loads((data_dir / ENV_FILE).read_text())  # type: ignore[no-any-return]


def remove_env(data_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (data_dir / ENV_FILE).unlink()


def exports(values: dict[str, str]) -> str:
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in values.items())


def env_name(region: str) -> str:
    """`us-east` → `US_EAST_URL`."""
    return "".join(c if c.isalnum() else "_" for c in region).upper() + "_URL"
