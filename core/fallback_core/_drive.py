"""The two drivers: perform what the `Walk` asks, one with threads of its own, one with awaits.

They are deliberately the same few lines twice: ask for a step, sleep or call
the hop, feed each delta to the walk and yield what it returns, report how the
stream ended. Every decision lives in the walk.

A sync stream that blocks cannot be interrupted from the thread reading it, so
when a hop has time limits the sync driver reads it on a helper thread and
waits on a queue with a timeout. The async driver times each read with
``asyncio.timeout`` and starts no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._events import CallTelemetry, Hook
from ._trace import ChainTrace
from ._types import Delta
from ._walk import Fail, Finish, Sleep, Walk

if TYPE_CHECKING:
    from ._chain import Chain

__all__ = ["AsyncCallStream", "CallStream"]

RequestT = TypeVar("RequestT")


class CallStream(Generic[RequestT]):
    """The caller's view of one sync call: iterate it for deltas, read ``trace`` any time.

    Closing it (or leaving a ``with`` block, or dropping it) closes the hop's
    stream at once and tries no further hop.
    """

    def __init__(self, chain: Chain[RequestT], request: RequestT, hooks: Sequence[Hook] = ()):
        self._walk = Walk(chain)
        telemetry = _telemetry(chain, hooks)
        self._deltas: Generator[Delta, None, None] = _drive(self._walk, request, telemetry)

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

    @property
    def text(self) -> str:
        """Everything delivered so far."""
        return self._walk.text

    @property
    def trace(self) -> ChainTrace:
        """What happened so far: attempts, serving hop, merged usage."""
        return self._walk.trace()


class AsyncCallStream(Generic[RequestT]):
    """The caller's view of one async call: ``async for`` it, read ``trace`` any time."""

    def __init__(self, chain: Chain[RequestT], request: RequestT, hooks: Sequence[Hook] = ()):
        self._walk = Walk(chain)
        telemetry = _telemetry(chain, hooks)
        self._deltas: AsyncGenerator[Delta, None] = _adrive(self._walk, request, telemetry)

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

    @property
    def text(self) -> str:
        """Everything delivered so far."""
        return self._walk.text

    @property
    def trace(self) -> ChainTrace:
        """What happened so far: attempts, serving hop, merged usage."""
        return self._walk.trace()


def _telemetry(chain: Chain[Any], hooks: Sequence[Hook]) -> CallTelemetry:
    return CallTelemetry((*chain.hooks, *hooks), chain.hook_failures)


def _drive(walk: Walk, request: Any, telemetry: CallTelemetry) -> Generator[Delta, None, None]:
    try:
        while True:
            step = walk.next_step()
            telemetry.emit(walk.drain())
            if isinstance(step, Finish):
                return
            if isinstance(step, Fail):
                raise step.error
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            try:
                stream = step.hop.target.stream(request, step.continuation)
                with contextlib.closing(_read(stream, walk)) as deltas:
                    for delta in deltas:
                        out = walk.accept(delta)
                        if out is not None:
                            yield out
            except Exception as exc:
                walk.fail(exc)
            else:
                tail = walk.end()
                if tail is not None:
                    yield tail
    finally:
        walk.abandon()
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
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                continue
            try:
                astream = step.hop.target.astream(request, step.continuation)
                async with contextlib.aclosing(_aread(astream, walk)) as adeltas:
                    async for delta in adeltas:
                        out = walk.accept(delta)
                        if out is not None:
                            yield out
            except Exception as exc:
                walk.fail(exc)
            else:
                tail = walk.end()
                if tail is not None:
                    yield tail
    finally:
        walk.abandon()
        telemetry.emit(walk.drain())
        telemetry.close()


# -- reading one hop's stream within its time limits ----------------------------


def _read(stream: Iterator[Delta], walk: Walk) -> Generator[Delta, None, None]:
    if not walk.may_time_out():
        try:
            yield from stream
        finally:
            _close(stream)
        return
    reader = _ThreadedReader(stream)
    try:
        while True:
            pending = walk.read_timeout()
            item = reader.get(None if pending is None else pending.limit)
            if item is _TIMED_OUT:
                assert pending is not None
                raise walk.timed_out(pending)
            if item is _END:
                return
            yield item
    finally:
        reader.stop()


async def _aread(stream: AsyncIterator[Delta], walk: Walk) -> AsyncGenerator[Delta, None]:
    try:
        if not walk.may_time_out():
            async for delta in stream:
                yield delta
            return
        while True:
            pending = walk.read_timeout()
            item = await _anext_within(stream, None if pending is None else pending.limit)
            if item is _TIMED_OUT:
                assert pending is not None
                raise walk.timed_out(pending)
            if item is _END:
                return
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_END: Any = _Marker("END")
_TIMED_OUT: Any = _Marker("TIMED_OUT")


if sys.version_info >= (3, 11):

    async def _anext_within(stream: AsyncIterator[Delta], seconds: float | None) -> Any:
        """The next delta, `_END`, or `_TIMED_OUT` if ``seconds`` pass first."""
        try:
            async with asyncio.timeout(seconds) as scope:
                return await anext(stream)
        except StopAsyncIteration:
            return _END
        except TimeoutError:
            if scope.expired():
                return _TIMED_OUT
            raise

else:  # pragma: no cover - exercised on Python 3.10 only

    async def _anext_within(stream: AsyncIterator[Delta], seconds: float | None) -> Any:
        """The next delta, `_END`, or `_TIMED_OUT` if ``seconds`` pass first."""
        try:
            return await asyncio.wait_for(anext(stream), seconds)
        except StopAsyncIteration:
            return _END
        except asyncio.TimeoutError:
            return _TIMED_OUT


class _ThreadedReader:
    """Reads a blocking iterator on its own thread so the reader can stop waiting.

    The thread runs in a copy of the caller's context (context variables such
    as tracing configuration stay visible). After `stop` it closes the stream
    as soon as its current read returns; a read blocked forever holds only this
    daemon thread, never the caller.
    """

    __slots__ = ("_queue", "_stopped", "_thread")

    def __init__(self, stream: Iterator[Delta]) -> None:
        self._queue: queue.SimpleQueue[tuple[Any, BaseException | None]] = queue.SimpleQueue()
        self._stopped = threading.Event()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run, stream), name="fallback-chain-reader", daemon=True
        )
        self._thread.start()

    def _run(self, stream: Iterator[Delta]) -> None:
        try:
            for item in stream:
                if self._stopped.is_set():
                    return
                self._queue.put((item, None))
            self._queue.put((_END, None))
        except BaseException as exc:  # handed to the consuming thread
            self._queue.put((None, exc))
        finally:
            _close(stream)

    def get(self, timeout: float | None) -> Any:
        try:
            item, error = self._queue.get(timeout=timeout)
        except queue.Empty:
            return _TIMED_OUT
        if error is not None:
            raise error
        return item

    def stop(self) -> None:
        self._stopped.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()
