"""The fault server in a child process, steered from the benchmark process.

Running the server out of process keeps its CPU time, its memory and its
event loop out of what the benchmarks measure: process CPU time, tracemalloc
peaks and wall times belong to the client side alone. The child runs the
same `fallback_core.testing.FaultServer`; `RemoteFaultServer` offers the
part of its API the benchmarks use (`set_fault`, `set_backup`, `reset`, `attempts`).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from fallback_core.testing import AttemptRecord, Backup, Fault, FaultServer, ModelScript

__all__ = ["RemoteFaultServer"]

_START_TIMEOUT = 30.0


def _serve(conn: Connection, models: Mapping[str, ModelScript], token_delay: float) -> None:
    """The child process: run a fault server and answer commands until told to stop."""
    with FaultServer(models, token_delay=token_delay) as server:
        conn.send(server.base_url)
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            result: Any = None
            if command == "set_fault":
                server.set_fault(*args)
            elif command == "set_backup":
                server.set_backup(*args)
            elif command == "reset":
                server.reset()
            elif command == "attempts":
                result = server.attempts(*args)
            conn.send(result)
    conn.send(None)


class RemoteFaultServer:
    """A `FaultServer` running in a child process; a context manager."""

    def __init__(self, models: Mapping[str, ModelScript], *, token_delay: float) -> None:
        self._models = dict(models)
        self._token_delay = token_delay
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.base_url = ""

    def __enter__(self) -> RemoteFaultServer:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self._models, self._token_delay),
            name="fault-server",
            daemon=True,
        )
        process.start()
        if not ours.poll(_START_TIMEOUT):
            process.kill()
            raise RuntimeError("the fault server process did not start")
        self.base_url = ours.recv()
        self._conn, self._process = ours, process
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._conn is not None and self._process is not None:
            try:
                self._call("stop")
            finally:
                self._process.join(10)
                if self._process.is_alive():
                    self._process.kill()
        self._conn = self._process = None

    def _call(self, *command: Any) -> Any:
        if self._conn is None:
            raise RuntimeError("the fault server is not running")
        self._conn.send(command)
        return self._conn.recv()

    def set_fault(self, model: str, fault: Fault | None) -> None:
        """Make `model` misbehave with `fault` from its next attempt on; None heals it."""
        self._call("set_fault", model, fault)

    def set_backup(self, model: str, backup: Backup | None) -> None:
        """Make `model` answer requests to continue as `backup` says; None: obey."""
        self._call("set_backup", model, backup)

    def reset(self) -> None:
        """Forget the attempts log, every fault and every backup behaviour."""
        self._call("reset")

    def attempts(self, model: str | None = None) -> list[AttemptRecord]:
        """The attempts at `model` (every model when None), oldest first."""
        records: list[AttemptRecord] = self._call("attempts", model)
        return records

    def attempt_count(self, model: str | None = None) -> int:
        """How many attempts `model` (every model when None) received."""
        return len(self.attempts(model))
