"""The two drivers: perform what the `Walk` asks, one with threads of its own, one with awaits.

They are deliberately the same few lines twice: ask for a step, consult shared
health, sleep or call the hop, feed each delta to the walk and yield what it returns, report how the
stream ended. Every decision lives in the walk.

How a hop's stream is read within its time limits (threads for sync streams,
``asyncio.timeout`` for async ones, racers for a hedge) lives in ``_read``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._events import CallTelemetry, Hook
from ._read import aread, read
from ._steps import Consult, Fail, Finish, Sleep
from ._trace import ChainTrace
from ._types import Delta
from ._walk import Walk
from .checks import AnswerCheck

if TYPE_CHECKING:
    from ._chain import Chain
    from ._health import Health

__all__ = ["AsyncCallStream", "CallStream"]

RequestT = TypeVar("RequestT")


class _Call(Generic[RequestT]):
    """What both views of a call share: its walk, its telemetry, what it delivered so far."""

    def __init__(
        self,
        chain: Chain[RequestT],
        request: RequestT,
        hooks: Sequence[Hook] = (),
        checks: Sequence[AnswerCheck] = (),
    ):
        self._walk = Walk(chain, request, checks)
        self._telemetry = CallTelemetry((*chain.hooks, *hooks), chain.hook_failures)

    @property
    def text(self) -> str:
        """Everything delivered so far."""
        return self._walk.text

    @property
    def trace(self) -> ChainTrace:
        """What happened so far: attempts, serving hop, merged usage."""
        return self._walk.trace()


class CallStream(_Call[RequestT]):
    """The caller's view of one sync call: iterate it for deltas, read ``trace`` any time.

    Closing it (or leaving a ``with`` block, or dropping it) closes the hop's
    stream at once and tries no further hop.
    """

    def __init__(
        self,
        chain: Chain[RequestT],
        request: RequestT,
        hooks: Sequence[Hook] = (),
        checks: Sequence[AnswerCheck] = (),
    ):
        super().__init__(chain, request, hooks, checks)
        self._deltas: Generator[Delta, None, None] = _drive(self._walk, request, self._telemetry)

    def __iter__(self) -> Iterator[Delta]:
        return self._deltas

    def __next__(self) -> Delta:
        return next(self._deltas)

    def close(self) -> None:
        self._deltas.close()

    def __enter__(self) -> CallStream[RequestT]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncCallStream(_Call[RequestT]):
    """The caller's view of one async call: ``async for`` it, read ``trace`` any time."""

    def __init__(
        self,
        chain: Chain[RequestT],
        request: RequestT,
        hooks: Sequence[Hook] = (),
        checks: Sequence[AnswerCheck] = (),
    ):
        super().__init__(chain, request, hooks, checks)
        self._deltas: AsyncGenerator[Delta, None] = _adrive(self._walk, request, self._telemetry)

    def __aiter__(self) -> AsyncIterator[Delta]:
        return self._deltas

    async def __anext__(self) -> Delta:
        return await anext(self._deltas)

    async def aclose(self) -> None:
        await self._deltas.aclose()

    async def __aenter__(self) -> AsyncCallStream[RequestT]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _drive(walk: Walk, request: Any, telemetry: CallTelemetry) -> Generator[Delta, None, None]:
    try:
        while True:
            step = walk.next_step()
            telemetry.emit(walk.drain())
            if isinstance(step, Finish):
                return
            if isinstance(step, Fail):
                raise step.error
            if isinstance(step, Consult):
                walk.admitted(_health(walk).consult(step))
                continue
            if isinstance(step, Sleep):
                walk.chain.sleep(step.seconds)
                continue
            try:
                with contextlib.closing(
                    read(step, request, walk, lambda: telemetry.emit(walk.drain()))
                ) as deltas:
                    for delta in deltas:
                        out = walk.accept(delta)
                        if walk.has_events:  # hooks hear of a seam before its text
                            telemetry.emit(walk.drain())
                        if out is not None:
                            yield out
            except Exception as exc:
                walk.fail(exc)
            else:
                tail = walk.end()
                if tail is not None:
                    yield tail
    finally:
        rest = walk.conclude(sys.exc_info()[1])
        walk.ended(None if rest is None else _health(walk).consult(rest))
        telemetry.emit(walk.drain())
        telemetry.close()


async def _adrive(
    walk: Walk, request: Any, telemetry: CallTelemetry
) -> AsyncGenerator[Delta, None]:
    try:
        while True:
            step = walk.next_step()
            telemetry.emit(walk.drain())
            if isinstance(step, Finish):
                return
            if isinstance(step, Fail):
                raise step.error
            if isinstance(step, Consult):
                walk.admitted(await _health(walk).aconsult(step))
                continue
            if isinstance(step, Sleep):
                await walk.chain.sleep_async(step.seconds)
                continue
            try:
                async with contextlib.aclosing(
                    aread(step, request, walk, lambda: telemetry.emit(walk.drain()))
                ) as adeltas:
                    async for delta in adeltas:
                        out = walk.accept(delta)
                        if walk.has_events:  # hooks hear of a seam before its text
                            telemetry.emit(walk.drain())
                        if out is not None:
                            yield out
            except Exception as exc:
                walk.fail(exc)
            else:
                tail = walk.end()
                if tail is not None:
                    yield tail
    finally:
        rest = walk.conclude(sys.exc_info()[1])
        walk.ended(None if rest is None else await _health(walk).aconsult(rest))
        telemetry.emit(walk.drain())
        telemetry.close()


def _health(walk: Walk) -> Health:
    health = walk.chain.health
    assert health is not None  # the walk consults only a chain that has one
    return health
