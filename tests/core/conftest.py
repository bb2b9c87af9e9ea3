from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from fallback_core import Chain, ChainTrace, Delta
from fallback_core._drive import _adrive, _drive
from fallback_core._events import CallTelemetry
from fallback_core._walk import Walk

from .virtual import AsyncVirtualIO, VirtualIO, VirtualTime


@dataclass
class Run:
    """What one call through a chain delivered, on virtual time."""

    deltas: list[Delta]
    trace: ChainTrace
    error: BaseException | None = None
    texts: list[str] = field(default_factory=list)
    time: VirtualTime = field(default_factory=VirtualTime)

    @property
    def text(self) -> str:
        return "".join(d.text for d in self.deltas)


Drive = Callable[..., Run]


def _call(
    chain: Chain[object], request: object, io: type[VirtualIO], whole: bool = False
) -> tuple[Any, Walk, Any]:
    time = VirtualTime()
    walk = Walk(chain, request, clock=time, whole=whole)
    telemetry = CallTelemetry(chain.hooks, chain.hook_failures)
    return walk, io(chain, request, telemetry, time), time


def _drive_sync(
    chain: Chain[object],
    request: object = "request",
    *,
    stop_after: int | None = None,
    whole: bool = False,
) -> Run:
    """One call through the sync driver, its I/O on virtual time."""
    walk, io, time = _call(chain, request, VirtualIO, whole)
    stream = _drive(walk.run(), io)
    deltas: list[Delta] = []
    error = None
    try:
        for delta in stream:
            deltas.append(delta)
            if stop_after is not None and len(deltas) >= stop_after:
                stream.close()
                break
    except Exception as exc:
        error = exc
    return Run(deltas, walk.trace(), error, time=time)


def _drive_async(
    chain: Chain[object],
    request: object = "request",
    *,
    stop_after: int | None = None,
    whole: bool = False,
) -> Run:
    """One call through the async driver, its I/O on virtual time."""

    async def main() -> Run:
        walk, io, time = _call(chain, request, AsyncVirtualIO, whole)
        stream = _adrive(walk.run(), io)
        deltas: list[Delta] = []
        error = None
        try:
            async for delta in stream:
                deltas.append(delta)
                if stop_after is not None and len(deltas) >= stop_after:
                    await stream.aclose()
                    break
        except Exception as exc:
            error = exc
        leftover = asyncio.all_tasks() - {asyncio.current_task()}
        assert not leftover, f"tasks left behind: {leftover}"
        return Run(deltas, walk.trace(), error, time=time)

    return asyncio.run(main())


def _real_sync(chain: Chain[object], request: object = "request") -> Run:
    """One call through `Chain.stream`: the sync driver with its real I/O, threads and all."""
    stream = chain.stream(request)
    deltas: list[Delta] = []
    error = None
    try:
        deltas.extend(stream)
    except Exception as exc:
        error = exc
    return Run(deltas, stream.trace, error)


def _real_async(chain: Chain[object], request: object = "request") -> Run:
    """One call through `Chain.astream`: the async driver with its real I/O."""

    async def main() -> Run:
        stream = chain.astream(request)
        deltas: list[Delta] = []
        error = None
        try:
            deltas.extend([delta async for delta in stream])
        except Exception as exc:
            error = exc
        leftover = asyncio.all_tasks() - {asyncio.current_task()}
        assert not leftover, f"tasks left behind: {leftover}"
        return Run(deltas, stream.trace, error)

    return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def real_drive(request: pytest.FixtureRequest) -> Drive:
    """Runs one call through `Chain.stream` or `Chain.astream`, in real time."""
    return _real_sync if request.param == "sync" else _real_async


@pytest.fixture(params=["sync", "async"])
def drive(request: pytest.FixtureRequest) -> Drive:
    """Runs one call through the sync or the async driver, on virtual time, and collects it."""
    return _drive_sync if request.param == "sync" else _drive_async


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Every test leaves no reader thread behind once its scripted stalls are released."""
    before = set(threading.enumerate())
    yield
    from tests.core import scripted

    for thread in set(threading.enumerate()) - before:
        if thread.name == "fallback-chain-reader":
            scripted.release_all()
            thread.join(timeout=5)
            assert not thread.is_alive(), "a reader thread outlived its test"
