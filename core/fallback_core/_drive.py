"""The two drivers: carry out a call's flow of commands, one with threads, one with awaits.

Each takes the flow's next command (`Walk.run`), performs it (the I/O is in
``_read``) and hands back what it produced; a delta is yielded to the caller.
Whatever the caller or the I/O raises is thrown into the flow, which closes
what is open and re-raises it. Every decision lives in the flow.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._events import CallTelemetry, Hook
from ._read import Tasks, Threads
from ._steps import Command, Flow, Left
from ._trace import ChainTrace
from ._types import Delta
from ._walk import Walk
from .checks import AnswerCheck

if TYPE_CHECKING:
    from ._chain import Chain

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
        whole: bool = False,
    ):
        self._walk = Walk(chain, request, checks, whole=whole)
        self._telemetry = CallTelemetry((*chain.hooks, *hooks), chain.hook_failures)
        self._start(chain, request)

    def _start(self, chain: Chain[RequestT], request: RequestT) -> None:
        """Set the driver going (lazily: nothing runs before the first delta is asked for)."""
        raise NotImplementedError

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

    _deltas: Generator[Delta, None, None]

    def _start(self, chain: Chain[RequestT], request: RequestT) -> None:
        self._deltas = _drive(self._walk.run(), Threads(chain, request, self._telemetry))

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

    _deltas: AsyncGenerator[Delta, None]

    def _start(self, chain: Chain[RequestT], request: RequestT) -> None:
        self._deltas = _adrive(self._walk.run(), Tasks(chain, request, self._telemetry))

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


class _Turn:
    """Hands a flow what its last command produced - or raised - and takes the next command."""

    __slots__ = ("_flow", "error", "reply")

    def __init__(self, flow: Flow) -> None:
        self._flow = flow
        self.reply: Any = None
        self.error: BaseException | None = None

    def next(self) -> Command | None:
        """The next command; None once the flow has returned (its error propagates)."""
        reply, error = self.reply, self.error
        self.reply = self.error = None
        if isinstance(error, GeneratorExit):
            error = Left(error)
        try:
            return self._flow.send(reply) if error is None else self._flow.throw(error)
        except StopIteration:
            return None
        except Left as left:
            raise left.exit from None


def _drive(flow: Flow, io: Threads) -> Generator[Delta, None, None]:
    turn, act = _Turn(flow), io.perform
    with io:
        while (step := turn.next()) is not None:
            try:  # a delta goes to the caller; any other command is performed
                turn.reply = (yield step) if isinstance(step, Delta) else act[type(step)](step)
            except BaseException as exc:  # the caller left, or the I/O failed: the flow cleans up
                turn.error = exc


async def _adrive(flow: Flow, io: Tasks) -> AsyncGenerator[Delta, None]:
    turn, act = _Turn(flow), io.perform
    with io:
        while (step := turn.next()) is not None:
            try:
                turn.reply = (
                    (yield step) if isinstance(step, Delta) else await act[type(step)](step)
                )
            except BaseException as exc:
                turn.error = exc
