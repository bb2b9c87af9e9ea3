"""The real drivers on virtual time: a call's flow performed against scripted streams.

The flow (`Walk.run`) decides everything from its clock; here that clock is a
`VirtualTime` that moves only when nothing can happen sooner. A `Scripted`
stream played virtually hands its `Stall` markers over instead of blocking
(see ``scripted.VIRTUAL``), so a read knows when each stream's next item is
due, and a wait runs out at its deadline without any real waiting. Racing
streams interleave exactly as their stalls say. The drivers' loops are the
real ones (``_drive``); only the I/O they perform is simulated - real threads
and ``asyncio.timeout`` are tested against real HTTP (``test_http``, ``test_sent``
and the adapters' suites).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from fallback_core import Chain
from fallback_core._events import CallTelemetry
from fallback_core._sent import mark_requests, unmark_requests
from fallback_core._steps import END, TIMED_OUT, Close, Consult, Emit, Open, Read, Sleep

from . import scripted


class VirtualTime:
    """A clock that moves only when the virtual I/O lets time pass, or the chain sleeps.

    Given to a `Chain` as ``clock``, ``sleep`` and ``sleep_async``, it also
    runs the real drivers' retries without waiting.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def sleep_async(self, seconds: float) -> None:
        self.sleep(seconds)


class _Stream:
    """One open stream: its items, and when the next one may be read."""

    def __init__(self, stream: Any, due: float, reports: Any) -> None:
        self.stream = stream
        self.due = due
        self.reports = reports  # until the first item: the request goes out meanwhile

    @contextlib.contextmanager
    def marked(self) -> Iterator[None]:
        """The client's reports reach the attempt during this read (until the first item)."""
        token = None if self.reports is None else mark_requests(self.reports)
        try:
            yield
        finally:
            if token is not None:
                unmark_requests(token)


class VirtualIO:
    """Performs a flow's commands for the sync driver on `VirtualTime`."""

    def __init__(
        self, chain: Chain[Any], request: object, telemetry: CallTelemetry, time: VirtualTime
    ) -> None:
        self._chain, self._request, self._telemetry, self.time = chain, request, telemetry, time
        self._streams: dict[Any, _Stream] = {}
        self.perform: dict[type, Callable[[Any], Any]] = {
            Open: self.open,
            Read: self.read,
            Close: self.close,
            Emit: lambda command: telemetry.emit(command.events),
            Sleep: self.sleep,
            Consult: lambda command: self._health().consult(command),
        }

    def __enter__(self) -> None:
        scripted.VIRTUAL = True

    def __exit__(self, *exc_info: object) -> None:
        scripted.VIRTUAL = False
        self._telemetry.close()

    def _health(self) -> Any:
        assert self._chain.health is not None
        return self._chain.health

    def open(self, command: Open) -> BaseException | None:
        reports = None if command.reports is None else command.reports(lambda: None)
        try:
            stream = self._make(command.attempt)
        except Exception as exc:
            return exc
        self._streams[command.tag] = _Stream(stream, self.time.now, reports)
        return None

    def _make(self, attempt: Any) -> Any:
        return iter(attempt.stream(self._request))

    def read(self, command: Read) -> Any:
        while (picked := self._pick(command)) is not None:
            tag, stream = picked
            try:
                with stream.marked():
                    item = next(stream.stream, END)
            except Exception as exc:
                return tag, None, exc
            if not self._stalled(stream, item):
                return tag, item, None
        return TIMED_OUT

    def _pick(self, command: Read) -> tuple[Any, _Stream] | None:
        """The stream whose next item is due first, time moved to it; None past the deadline."""
        wait = command.wait()
        deadline = None if wait is None else self.time.now + wait
        tag = min(command.tags, key=lambda t: self._streams[t].due)
        stream = self._streams[tag]
        if deadline is not None and stream.due > deadline:
            self.time.now = deadline
            return None
        self.time.now = max(self.time.now, stream.due)
        return tag, stream

    def _stalled(self, stream: _Stream, item: Any) -> bool:
        """Whether the stream went quiet (its next item is due later) rather than giving one."""
        if isinstance(item, scripted.Stall):
            stream.due = self.time.now + item.seconds
            return True
        stream.reports = None
        return False

    def close(self, command: Close) -> BaseException | None:
        close = getattr(self._streams.pop(command.tag).stream, "close", None)
        try:
            if close is not None:
                close()
        except Exception as exc:
            return exc
        return None

    def sleep(self, command: Sleep) -> None:
        self.time.sleep(command.seconds)


class AsyncVirtualIO(VirtualIO):
    """`VirtualIO` for the async driver: the same virtual time, async streams."""

    def __init__(
        self, chain: Chain[Any], request: object, telemetry: CallTelemetry, time: VirtualTime
    ) -> None:
        super().__init__(chain, request, telemetry, time)
        self.perform = {kind: _awaitable(act) for kind, act in self.perform.items()}
        self.perform[Read] = self.aread
        self.perform[Close] = self.aclose

    def _make(self, attempt: Any) -> Any:
        return attempt.astream(self._request)

    async def aread(self, command: Read) -> Any:
        while (picked := self._pick(command)) is not None:
            tag, stream = picked
            try:
                with stream.marked():
                    item = await anext(stream.stream, END)
            except Exception as exc:
                return tag, None, exc
            if not self._stalled(stream, item):
                return tag, item, None
        return TIMED_OUT

    async def aclose(self, command: Close) -> BaseException | None:
        aclose = getattr(self._streams.pop(command.tag).stream, "aclose", None)
        try:
            if aclose is not None:
                await aclose()
        except Exception as exc:
            return exc
        return None


def _awaitable(act: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def perform(command: Any) -> Any:
        return act(command)

    return perform
