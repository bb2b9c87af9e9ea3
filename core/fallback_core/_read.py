"""The drivers' I/O: performing a flow's commands with threads (sync) or tasks (async).

A blocking sync read cannot be interrupted, so a stream read within limits, or
beside a racer, is read on a helper thread while the driver waits on a queue
with a timeout; any other sync stream is read directly. Async reads are timed
by one `_Alarm` per call and start no task, except for racers, which are read
by a task each into one queue. Every decision - which limit applies, who wins
a race - is the flow's; this module only waits.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from ._events import CallTelemetry
from ._sent import Reports, mark_requests, unmark_requests
from ._steps import END, TIMED_OUT, Close, Consult, Emit, Got, Open, Racer, Read, Signal, Sleep
from ._types import Delta

if TYPE_CHECKING:
    from ._chain import Chain
    from ._circuit import Admission
    from ._health import Health

__all__ = ["Tasks", "Threads"]

logger = logging.getLogger("fallback_core")

_RECHECK: Final = (None, None, None)  # a report moved a limit: compute the wait again
StreamT = TypeVar("StreamT")
_Sent = tuple["_ThreadedReader | None", Any, BaseException | None]  # what a reader thread sends


class _IO(Generic[StreamT]):
    """What both kinds of I/O keep: the request, the open streams, the hooks."""

    def __init__(self, chain: Chain[Any], request: object, telemetry: CallTelemetry) -> None:
        self._chain = chain
        self._request = request
        self._telemetry = telemetry
        self._streams: dict[Racer, StreamT] = {}
        self._first: dict[Racer, Reports | None] = {}  # reports for a stream's first read
        self.perform: dict[type, Callable[[Any], Any]] = {
            kind: getattr(self, kind.__name__.lower())
            for kind in (Open, Read, Close, Emit, Sleep, Consult)
        }

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        self._telemetry.close()

    @property
    def _health(self) -> Health:
        health = self._chain.health
        assert health is not None  # the walk consults only a chain that has one
        return health

    def _reports(self, command: Open, changed: Callable[[], None]) -> Reports | None:
        return None if command.reports is None else command.reports(changed)


class Threads(_IO["Iterator[Delta] | _ThreadedReader"]):
    """Performs a flow's commands for the sync driver."""

    def __init__(self, chain: Chain[Any], request: object, telemetry: CallTelemetry) -> None:
        super().__init__(chain, request, telemetry)
        self._sink: queue.SimpleQueue[_Sent] = queue.SimpleQueue()

    def emit(self, command: Emit) -> None:
        self._telemetry.emit(command.events)

    def sleep(self, command: Sleep) -> None:
        self._chain.sleep(command.seconds)

    def consult(self, command: Consult) -> Admission:
        return self._health.consult(command)

    def open(self, command: Open) -> BaseException | None:
        tag, attempt = command.tag, command.attempt
        threaded = command.timed or command.racing
        reports = self._reports(command, lambda: self._sink.put(_RECHECK))
        # The request goes out when the stream is made or first read: the client's
        # reports reach this attempt meanwhile (a reader thread copies this context).
        token = None if reports is None else mark_requests(reports)
        stream = None
        try:
            stream = attempt.stream(self._request)
            if threaded:
                self._streams[tag] = _ThreadedReader(stream, self._sink, tag)
            else:  # read on the caller's thread (it has no time limit)
                self._streams[tag], self._first[tag] = stream, reports
        except Exception as exc:
            _close(stream)  # made, but no reader could be started for it
            return exc
        finally:
            if token is not None:
                unmark_requests(token)
        return None

    def read(self, command: Read) -> Got | Signal:
        tag = command.tags[0]
        stream = self._streams[tag]
        if not isinstance(stream, _ThreadedReader):  # never raced, no limit
            reports = self._first.pop(tag, None)  # for the first read, when the request goes out
            token = None if reports is None else mark_requests(reports)
            try:
                return tag, next(stream, END), None
            except Exception as exc:
                return tag, None, exc
            finally:
                if token is not None:
                    unmark_requests(token)
        readers = [self._streams[tag] for tag in command.tags]
        for reader in readers:
            assert isinstance(reader, _ThreadedReader)
            reader.ask()
        while True:
            seconds = command.wait()
            try:
                sender, item, error = self._sink.get(
                    timeout=None if seconds is None else max(0.0, seconds)
                )
            except queue.Empty:
                if seconds is not None and seconds <= 0:
                    return TIMED_OUT
                continue  # a limit may have moved meanwhile
            if sender is not None and sender in readers:  # not a recheck nor a closed stream's
                sender.took()
                return sender.tag, item, error

    def close(self, command: Close) -> BaseException | None:
        stream = self._streams.pop(command.tag)
        self._first.pop(command.tag, None)
        try:
            stream.stop() if isinstance(stream, _ThreadedReader) else _close(stream)
        except Exception as exc:
            return exc
        return None


class Tasks(_IO["AsyncIterator[Delta] | _AsyncPump"]):
    """Performs a flow's commands for the async driver."""

    def __init__(self, chain: Chain[Any], request: object, telemetry: CallTelemetry) -> None:
        super().__init__(chain, request, telemetry)
        self._sink: asyncio.Queue[tuple[_AsyncPump, Any, BaseException | None]] | None = None
        self._untimed: set[Racer] = set()  # streams read with no limit at all
        self._alarm = _Alarm()  # ends a timed read that outlasts its limit
        self._wait: Callable[[], float | None] = lambda: None

    async def emit(self, command: Emit) -> None:
        self._telemetry.emit(command.events)

    async def sleep(self, command: Sleep) -> None:
        await self._chain.sleep_async(command.seconds)

    async def consult(self, command: Consult) -> Admission:
        return await self._health.aconsult(command)

    async def open(self, command: Open) -> BaseException | None:
        tag, attempt = command.tag, command.attempt
        try:
            stream = attempt.astream(self._request)
        except Exception as exc:
            return exc
        if command.racing:
            if self._sink is None:
                self._sink = asyncio.Queue()
            self._streams[tag] = _AsyncPump(stream, self._sink, tag)
        else:
            self._streams[tag] = stream
            self._first[tag] = self._reports(command, self._moved)
            if not command.timed:
                self._untimed.add(tag)
        return None

    def __exit__(self, *exc_info: object) -> None:
        self._alarm.close()
        super().__exit__(*exc_info)

    def _moved(self) -> None:
        """A report moved a limit during the read in progress: its deadline moves too."""
        if self._alarm.reading:
            self._alarm.move(self._wait())

    async def read(self, command: Read) -> Got | Signal:
        tag = command.tags[0]
        stream = self._streams[tag]
        # The request goes out during a stream's first read: its reports may move the limit
        # (even with no limit yet: a request held until sent gets one then).
        reports = self._first.pop(tag, None)
        seconds = None if tag in self._untimed else command.wait()
        alarm = None
        if seconds is not None or reports is not None:
            alarm, self._wait = self._alarm, command.wait
            alarm.start(seconds)
        token = None if reports is None else mark_requests(reports)
        try:
            if isinstance(stream, _AsyncPump):
                return await stream.next({self._streams[tag] for tag in command.tags})
            return tag, await anext(stream), None
        except StopAsyncIteration:
            return tag, END, None
        except asyncio.CancelledError:
            if alarm is not None and alarm.stop():
                return TIMED_OUT
            raise
        except Exception as exc:
            return tag, None, exc
        finally:
            if alarm is not None:
                alarm.stop()
            if token is not None:
                unmark_requests(token)

    async def close(self, command: Close) -> BaseException | None:
        stream = self._streams.pop(command.tag)
        self._untimed.discard(command.tag)
        self._first.pop(command.tag, None)
        try:
            await (stream.stop() if isinstance(stream, _AsyncPump) else _aclose(stream))
        except Exception as exc:
            return exc
        return None


class _ThreadedReader:
    """Reads a blocking iterator on its own thread, one item when asked, so a reader can stop.

    Never reading ahead, it pulls nothing more once the caller stops. Items go
    to ``sink`` with the reader (readers may share one sink). The thread runs in
    a copy of the caller's context. `stop` closes the stream at once when the
    thread is between reads; a thread blocked in a read closes it as soon as
    that read returns (the client's own read timeout bounds that), holding only
    this daemon thread, never the caller.
    """

    __slots__ = ("_asked", "_lock", "_reading", "_sink", "_stopped", "_thread", "_wanted", "tag")

    def __init__(
        self,
        stream: Iterator[Delta],
        sink: queue.SimpleQueue[_Sent],
        tag: Racer,
    ) -> None:
        self._sink = sink
        self.tag = tag
        # Held until an item is wanted: the reader blocks acquiring it. A bare lock
        # hands over in about half the time a Semaphore takes; only this side
        # releases it, at most once per item asked (``_asked``), and ``stop``.
        self._wanted = threading.Lock()
        self._wanted.acquire()
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
        sink = self._sink
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
                sink.put((self, item, None))
                if item is END:
                    return
        except BaseException as exc:  # handed to the consuming thread
            sink.put((self, None, exc))
        finally:
            try:
                _close(stream)
            except Exception:  # the consumer has what the stream gave; nothing else waits
                logger.debug(
                    "fallback_core: closing a stream on its reader thread failed", exc_info=True
                )

    def ask(self) -> None:
        """Have the thread read the next item, unless one is already asked for."""
        if not self._asked:
            self._asked = True
            self._wanted.release()

    def took(self) -> None:
        """The item asked for has been received (through the shared sink)."""
        self._asked = False

    def stop(self) -> None:
        """Read nothing more; close the stream now if no read is in progress."""
        with self._lock:
            self._stopped = True
            busy = self._reading
        if self._wanted.locked():  # else an item is asked for: the thread wakes anyway
            self._wanted.release()
        if not busy and self._thread is not threading.current_thread():
            self._thread.join()


class _Alarm:
    """Ends an async read that outlasts its limit: one timer for a call's reads, rarely moved.

    A timer armed per read (``asyncio.timeout``) costs about as much as a fast
    read. This one stays armed across reads, moved only when a read must end
    sooner; ringing early it re-arms for the read in progress. Like
    ``asyncio.timeout`` it cancels the task, and takes the cancellation back
    (`stop`) unless someone else cancelled the task too.
    """

    __slots__ = ("_cancelling", "_due", "_handle", "_task", "rang")

    def __init__(self) -> None:
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None  # the task reading, while a read lasts
        self._due: float | None = None  # the loop time the read in progress must end by
        self._cancelling = 0
        self.rang = False

    @property
    def reading(self) -> bool:
        return self._task is not None

    def start(self, seconds: float | None) -> None:
        """A read starts: it must end within ``seconds`` (None: no limit, until `move`)."""
        task = asyncio.current_task()
        assert task is not None
        self._task, self._cancelling, self.rang = task, task.cancelling(), False
        self.move(seconds)

    def move(self, seconds: float | None) -> None:
        """The read in progress must end within ``seconds`` from now."""
        if seconds is None:
            self._due = None
            return
        loop = asyncio.get_running_loop()
        self._due = due = loop.time() + max(0.0, seconds)
        if self._handle is None or self._handle.when() > due:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = loop.call_at(due, self._ring)

    def stop(self) -> bool:
        """The read is over. True if the alarm ended it (and only the alarm cancelled it)."""
        task, self._task, self._due = self._task, None, None
        if not self.rang or task is None:
            return False
        self.rang = False
        return task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _ring(self) -> None:
        self._handle = None
        task, due = self._task, self._due
        if task is None or due is None:
            return  # between reads, or no limit: the next read arms it again
        loop = asyncio.get_running_loop()
        if loop.time() < due:  # rang for an earlier read: wait for this one's end
            self._handle = loop.call_at(due, self._ring)
            return
        self.rang = True
        task.cancel()


class _AsyncPump:
    """Reads an async stream in its own task into ``sink``; `stop` cancels and closes it."""

    __slots__ = ("_sink", "_task", "tag")

    def __init__(
        self,
        stream: AsyncIterator[Delta],
        sink: asyncio.Queue[tuple[_AsyncPump, Any, BaseException | None]],
        tag: Racer,
    ) -> None:
        self.tag, self._sink = tag, sink
        self._task = asyncio.ensure_future(self._run(stream))

    async def _run(self, stream: AsyncIterator[Delta]) -> None:
        sink = self._sink
        try:
            async for item in stream:
                sink.put_nowait((self, item, None))
            sink.put_nowait((self, END, None))
        except BaseException as exc:  # handed to the consuming task, as a reader thread does
            sink.put_nowait((self, None, exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            await _aclose(stream)

    async def next(self, pumps: set[_AsyncPump | AsyncIterator[Delta]]) -> Got:
        """The next item any of ``pumps`` (sharing this one's sink) produced."""
        while (got := await self._sink.get())[0] not in pumps:
            pass  # left over from a closed stream
        return got[0].tag, got[1], got[2]

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
