"""Reading one hop's stream within its time limits, alone or racing a hedge.

A sync stream that blocks cannot be interrupted from the thread reading it, so
when a hop has time limits it is read on a helper thread and the driver waits
on a queue with a timeout; an abandoned thread closes its stream as soon as the
blocked read returns (the client's own read timeout bounds that). Async reads
are timed with ``asyncio.timeout`` and start no thread. A hedged start
(``Policy.hedge_after``) reads both racers through pumps - a thread or a task
each - into one queue, and `Race` decides the winner.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import sys
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
)
from typing import Any, Final

from ._race import END, PRIMARY, RIVAL, Lost, Race, Racer, Signal, Start, Verdict, Won
from ._sent import Reports, mark_requests, unmark_requests
from ._steps import Attempt
from ._types import Delta
from ._walk import Walk

__all__ = ["aread", "read"]

_TIMED_OUT: Final = Signal.TIMED_OUT
_RECHECK: Final = Signal.RECHECK
_Item = tuple[Racer, Delta | Signal | None, BaseException | None]  # from a reader, tagged


def read(
    step: Attempt, request: Any, walk: Walk, emit: Callable[[], None]
) -> Generator[Delta, None, None]:
    """The deltas of ``step``'s attempt; ``emit`` delivers the walk's events, before the I/O
    they describe (a hedge's rival is announced before its stream is opened)."""
    if step.hedge_after is not None:
        yield from _read_hedged(step.hedge_after, step, request, walk, emit)
        return
    # The request goes out when the stream is made or first read: the client's
    # reports reach this attempt meanwhile (a reader thread copies this context).
    reports = walk.send_reports()
    token = mark_requests(reports)
    try:
        stream = step.hop.target.stream(request, step.continuation)
    finally:
        unmark_requests(token)
    if not walk.may_time_out():
        yield from _untimed(stream, reports)
        return
    sink: queue.SimpleQueue[_Item] = queue.SimpleQueue()
    # The client reports its request from the reader thread (which copies this context);
    # each report that moves a limit wakes the waiting consumer to wait again.
    token = mark_requests(walk.send_reports(lambda: sink.put((PRIMARY, _RECHECK, None))))
    try:
        reader = _ThreadedReader(stream, sink, PRIMARY)
    finally:
        unmark_requests(token)
    try:
        yield from _read_within_limits(reader, walk)
    finally:
        reader.stop()


def _untimed(stream: Iterator[Delta], reports: Reports) -> Generator[Delta, None, None]:
    """Read a stream with no time limit, reporting a request sent during its first read."""
    iterator = iter(stream)
    try:
        token = mark_requests(reports)
        try:
            first = next(iterator, END)
        finally:
            unmark_requests(token)
        if isinstance(first, Signal):  # the stream ended at once
            return
        yield first
        yield from iterator
    finally:
        _close(stream)


def _read_within_limits(reader: _ThreadedReader, walk: Walk) -> Generator[Delta, None, None]:
    while True:
        pending = walk.read_timeout()
        item = reader.get(None if pending is None else pending.limit)
        if item is _RECHECK:
            continue
        if item is _TIMED_OUT:
            again = walk.read_timeout()  # the request may have been sent since: wait on
            if again is not None and again.limit <= 0:
                raise walk.timed_out(again)
            continue
        if item is END:
            return
        yield item


def _read_hedged(
    hedge_after: float, step: Attempt, request: Any, walk: Walk, emit: Callable[[], None]
) -> Generator[Delta, None, None]:
    sink: queue.SimpleQueue[_Item] = queue.SimpleQueue()
    race = Race(walk, hedge_after, walk.chain.clock)
    readers = {PRIMARY: _ThreadedReader(step.hop.target.stream(request, None), sink, PRIMARY)}
    try:
        readers[PRIMARY].ask()
        verdict: Verdict = None
        while not isinstance(verdict, Won):
            try:
                tag, item, error = sink.get(timeout=race.wait())
            except queue.Empty:
                verdict = race.on_timer()
            else:
                verdict = race.on_item(tag, item, error)
                racer = readers.get(tag)
                if racer is not None:
                    racer.took()
                    if verdict is None:  # no text yet: the race wants its next item
                        racer.ask()
            emit()
            if isinstance(verdict, Start):
                try:
                    rival = verdict.attempt.hop.target.stream(request, None)
                except Exception as exc:
                    verdict = race.on_item(RIVAL, None, exc)
                else:
                    readers[RIVAL] = _ThreadedReader(rival, sink, RIVAL)
                    readers[RIVAL].ask()
            if isinstance(verdict, Lost):
                readers.pop(verdict.tag).stop()
                if not readers:
                    raise verdict.error
        for tag in [t for t in readers if t != verdict.tag]:
            readers.pop(tag).stop()
        yield from verdict.deltas
        if not verdict.ended:
            yield from _read_within_limits(readers[verdict.tag], walk)
    finally:
        for reader in readers.values():
            reader.stop()


async def aread(
    step: Attempt, request: Any, walk: Walk, emit: Callable[[], None]
) -> AsyncGenerator[Delta, None]:
    """The deltas of ``step``'s attempt, as `read`."""
    if step.hedge_after is not None:
        hedged = _aread_hedged(step.hedge_after, step, request, walk, emit)
        async with contextlib.aclosing(hedged) as d:
            async for delta in d:
                yield delta
        return
    stream = step.hop.target.astream(request, step.continuation)
    try:
        if not walk.may_time_out():
            token = mark_requests(walk.send_reports())  # the request goes out in this first read
            try:
                first = await anext(stream, END)
            finally:
                unmark_requests(token)
            if isinstance(first, Signal):  # the stream ended at once
                return
            yield first
            async for delta in stream:
                yield delta
            return
        first_read = True
        while True:
            pending = walk.read_timeout()
            if first_read:  # the request goes out during this read: its limit may move
                first_read = False
                item = await _first_within(walk, anext(stream))
            else:
                item = await _next_within(anext(stream), None if pending is None else pending.limit)
            if item is _TIMED_OUT:
                pending = walk.read_timeout()
                assert pending is not None
                raise walk.timed_out(pending)
            if item is END:
                return
            yield item
    finally:
        await _aclose(stream)


async def _aread_hedged(
    hedge_after: float, step: Attempt, request: Any, walk: Walk, emit: Callable[[], None]
) -> AsyncGenerator[Delta, None]:
    sink: asyncio.Queue[_Item] = asyncio.Queue()
    race = Race(walk, hedge_after, walk.chain.clock)
    pumps = {PRIMARY: _AsyncPump(step.hop.target.astream(request, None), sink, PRIMARY)}
    try:
        verdict: Verdict = None
        while not isinstance(verdict, Won):
            got = await _next_within(sink.get(), race.wait())
            if got is _TIMED_OUT:
                verdict = race.on_timer()
            else:
                tag, item, error = got
                verdict = race.on_item(tag, item, error)
            emit()
            if isinstance(verdict, Start):
                try:
                    rival = verdict.attempt.hop.target.astream(request, None)
                except Exception as exc:
                    verdict = race.on_item(RIVAL, None, exc)
                else:
                    pumps[RIVAL] = _AsyncPump(rival, sink, RIVAL)
            if isinstance(verdict, Lost):
                await pumps.pop(verdict.tag).stop()
                if not pumps:
                    raise verdict.error
        for tag in [t for t in pumps if t != verdict.tag]:
            await pumps.pop(tag).stop()
        for delta in verdict.deltas:
            yield delta
        while not verdict.ended:
            pending = walk.read_timeout()
            got = await _next_within(sink.get(), None if pending is None else pending.limit)
            if got is _TIMED_OUT:
                assert pending is not None
                raise walk.timed_out(pending)
            tag, item, error = got
            if tag != verdict.tag:
                continue  # left over from the loser
            if error is not None:
                raise error
            if item is END:
                return
            yield item
    finally:
        for pump in pumps.values():
            await pump.stop()


if sys.version_info >= (3, 11):

    async def _first_within(walk: Walk, awaitable: Awaitable[Any]) -> Any:
        """An attempt's first read: like `_next_within`, its limit moved by the client's reports.

        The client reports its request queued, then sent (`request_queued`,
        `request_sent`) from inside this very read, on this task, so the
        timeout is rescheduled to the limit that then applies: queueing inside
        the client does not eat the first-token wait.
        """
        loop = asyncio.get_running_loop()
        scopes: list[asyncio.Timeout] = []

        def moved() -> None:
            if scopes:
                again = walk.read_timeout()
                scopes[0].reschedule(None if again is None else loop.time() + again.limit)

        token = mark_requests(walk.send_reports(moved))
        pending = walk.read_timeout()  # after the reports are set up: they may hold the wait
        try:
            return await _next_within(awaitable, None if pending is None else pending.limit, scopes)
        finally:
            unmark_requests(token)

else:  # pragma: no cover - exercised on Python 3.10 only

    async def _first_within(walk: Walk, awaitable: Awaitable[Any]) -> Any:
        """An attempt's first read; on 3.10 its first-token wait counts from its start."""
        pending = walk.read_timeout()
        return await _next_within(awaitable, None if pending is None else pending.limit)


if sys.version_info >= (3, 11):

    async def _next_within(
        awaitable: Awaitable[Any],
        seconds: float | None,
        scopes: list[asyncio.Timeout] | None = None,
    ) -> Any:
        """What ``awaitable`` gives; `END` when a stream ends, `_TIMED_OUT` after ``seconds``.

        ``scopes`` receives the timeout scope, so a caller can move its deadline.
        """
        try:
            async with asyncio.timeout(seconds) as scope:
                if scopes is not None:
                    scopes.append(scope)
                return await awaitable
        except StopAsyncIteration:
            return END
        except TimeoutError:
            if scope.expired():
                return _TIMED_OUT
            raise

else:  # pragma: no cover - exercised on Python 3.10 only

    async def _next_within(
        awaitable: Awaitable[Any], seconds: float | None, scopes: list[Any] | None = None
    ) -> Any:
        """What ``awaitable`` gives; `END` when a stream ends, `_TIMED_OUT` after ``seconds``."""
        try:
            return await asyncio.wait_for(awaitable, seconds)
        except StopAsyncIteration:
            return END
        except asyncio.TimeoutError:
            return _TIMED_OUT


class _ThreadedReader:
    """Reads a blocking iterator on its own thread, one item per request, so a reader can stop.

    The thread reads the next item only when asked (`get` asks; a hedge's
    racers are asked with `ask`), so it never reads ahead of the consumer:
    when the caller stops, nothing more is pulled from the stream and no
    further request goes out. Items go to ``sink`` tagged with ``tag`` (several
    readers may share one sink). The thread runs in a copy of the caller's
    context, so context variables such as tracing configuration stay visible.
    `stop` closes the stream before returning when the thread is between
    reads; a thread blocked in a read closes it as soon as that read returns
    (the client's own read timeout bounds that), holding only this daemon
    thread, never the caller.
    """

    __slots__ = ("_asked", "_lock", "_reading", "_sink", "_stopped", "_tag", "_thread", "_wanted")

    def __init__(
        self,
        stream: Iterator[Delta],
        sink: queue.SimpleQueue[_Item],
        tag: Racer,
    ) -> None:
        self._sink = sink
        self._tag = tag
        self._wanted = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._asked = False  # an item was asked for and not yet taken
        self._reading = False  # the thread is inside the stream's next()
        self._stopped = False
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run, stream), name="fallback-chain-reader", daemon=True
        )
        self._thread.start()

    def _run(self, stream: Iterator[Delta]) -> None:
        tag, sink = self._tag, self._sink
        try:
            while True:
                self._wanted.acquire()
                with self._lock:
                    if self._stopped:
                        return
                    self._reading = True
                try:
                    item = next(stream, END)
                finally:
                    with self._lock:
                        self._reading = False
                        stopped = self._stopped
                if stopped:
                    return  # the consumer left while this read was blocked
                sink.put((tag, item, None))
                if item is END:
                    return
        except BaseException as exc:  # handed to the consuming thread
            sink.put((tag, None, exc))
        finally:
            _close(stream)

    def ask(self) -> None:
        """Have the thread read the next item, unless one is already asked for."""
        if not self._asked:
            self._asked = True
            self._wanted.release()

    def took(self) -> None:
        """The item asked for has been received (through the shared sink)."""
        self._asked = False

    def get(self, timeout: float | None) -> Any:
        """This reader's next item, `END`, `_TIMED_OUT` or `_RECHECK`; re-raises its error.

        A read that timed out (or was interrupted by `_RECHECK`, a limit that
        moved) stays asked for: the next call waits for it.
        """
        self.ask()
        while True:
            try:
                tag, item, error = self._sink.get(timeout=timeout)
            except queue.Empty:
                return _TIMED_OUT
            if tag != self._tag:
                continue  # left over from a racer that lost
            if item is _RECHECK:
                return item
            self.took()
            if error is not None:
                raise error
            return item

    def stop(self) -> None:
        """Read nothing more; close the stream now if no read is in progress."""
        with self._lock:
            self._stopped = True
            busy = self._reading
        self._wanted.release()
        if not busy and self._thread is not threading.current_thread():
            self._thread.join()


class _AsyncPump:
    """Reads an async stream in its own task into ``sink``, tagged; `stop` cancels and closes it."""

    __slots__ = ("_task",)

    def __init__(
        self,
        stream: AsyncIterator[Delta],
        sink: asyncio.Queue[_Item],
        tag: Racer,
    ) -> None:
        self._task = asyncio.ensure_future(self._run(stream, sink, tag))

    @staticmethod
    async def _run(
        stream: AsyncIterator[Delta],
        sink: asyncio.Queue[_Item],
        tag: Racer,
    ) -> None:
        try:
            async for item in stream:
                sink.put_nowait((tag, item, None))
            sink.put_nowait((tag, END, None))
        except Exception as exc:  # handed to the consuming task
            sink.put_nowait((tag, None, exc))
        finally:
            await _aclose(stream)

    async def stop(self) -> None:
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


async def _aclose(stream: object) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
