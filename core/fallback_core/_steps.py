"""The commands a call's flow gives its driver, and the state of the attempt in flight.

The flow (`Walk.run`) yields a command; the driver performs it and sends back
what it produced: `Consult` - an `Admission`; `Sleep`, `Emit` and a `Delta`
(deliver it to the caller) - nothing; `Open` and `Close` - the error that
opening or closing the stream raised, or None; `Read` - a `Got` or
`TIMED_OUT`. Whatever the
driver itself raises (the caller closed the stream, the task was cancelled) is
thrown into the flow, which closes what is open and re-raises it.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._circuit import Verdict
from ._seam import Seam, SeamResult
from ._types import Continuation, Delta, ToolCallChunk, Usage

if TYPE_CHECKING:
    from ._chain import Hop
    from ._events import Event

__all__ = [
    "END",
    "PRIMARY",
    "RIVAL",
    "TIMED_OUT",
    "Attempt",
    "Close",
    "Command",
    "Consult",
    "Emit",
    "Fail",
    "Finish",
    "Flow",
    "Got",
    "Left",
    "Live",
    "Open",
    "Racer",
    "Read",
    "SendReports",
    "Signal",
    "Sleep",
    "Step",
    "assemble",
    "close",
]


class Racer(enum.IntEnum):
    """Which of an attempt's streams: the attempt's own, or a hedge's rival."""

    PRIMARY = 1
    RIVAL = 2


PRIMARY: Final = Racer.PRIMARY
RIVAL: Final = Racer.RIVAL


class Signal(enum.Enum):
    """What a read produced other than a delta."""

    END = "end"  # the stream ended
    TIMED_OUT = "timed out"  # the wait ran out first


END: Final = Signal.END
TIMED_OUT: Final = Signal.TIMED_OUT

Got = tuple[Racer, Delta | Signal | None, BaseException | None]
"""What a read produced: (stream, a delta or `END`, None) or (stream, None, its error)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """Call ``hop`` (its ``number``-th attempt in this call), continuing text if set.

    With ``hedge_after`` set, the driver races this attempt against the next
    hop if no text arrives within that many seconds (see `Walk.hedge`). With
    ``whole`` the hop is asked for its whole reply (its target's ``reply``)
    rather than a stream.
    """

    hop: Hop[Any]
    number: int
    continuation: Continuation | None
    hedge_after: float | None = None
    whole: bool = False

    def stream(self, request: object) -> Iterator[Delta]:
        """Call the hop: its whole reply (``whole``), else its stream."""
        target: Any = self.hop.target
        opened: Iterator[Delta] = (target.reply if self.whole else target.stream)(
            request, self.continuation
        )
        return opened

    def astream(self, request: object) -> AsyncIterator[Delta]:
        """`stream` for the async driver."""
        target: Any = self.hop.target
        opened: AsyncIterator[Delta] = (target.areply if self.whole else target.astream)(
            request, self.continuation
        )
        return opened


@dataclass(frozen=True, slots=True)
class Consult:
    """Ask the chain's `Health`: record ``verdicts``, then admit one of ``candidates``.

    ``candidates`` are hop identities in the order the walk would try them;
    with ``force`` one is admitted even if every circuit is open. Empty
    candidates only record. The driver hands the `Admission` back to the walk.
    """

    verdicts: tuple[Verdict, ...]
    candidates: tuple[str, ...]
    force: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` before the next step."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Finish:
    """The answer is complete."""


@dataclass(frozen=True, slots=True)
class Fail:
    """Raise ``error`` (its ``__cause__`` already set)."""

    error: BaseException


Step = Attempt | Consult | Sleep | Finish | Fail


@dataclass(frozen=True, slots=True)
class Open:
    """Open ``attempt``'s stream as ``tag``: reply with the error opening it raised, or None.

    ``reports`` makes the attempt's `SendReports`, given what to call when a
    report moves a limit (None: the client's reports are not watched). A
    ``timed`` stream is read within limits, a ``racing`` one alongside another.
    """

    tag: Racer
    attempt: Attempt
    reports: Callable[[Callable[[], None]], SendReports] | None
    timed: bool
    racing: bool = False


@dataclass(frozen=True, slots=True)
class Read:
    """The next item of any stream in ``tags`` within ``wait()`` seconds: a `Got`, or `TIMED_OUT`.

    ``wait`` is asked again whenever a report moves a limit (None: no limit).
    """

    tags: tuple[Racer, ...]
    wait: Callable[[], float | None]


@dataclass(frozen=True, slots=True)
class Close:
    """Close stream ``tag`` (a read in progress is abandoned): reply with its error, or None."""

    tag: Racer


@dataclass(frozen=True, slots=True)
class Emit:
    """Tell the hooks of ``events``."""

    events: list[Event]


class Left(BaseException):
    """The caller closed the stream: the driver's ``GeneratorExit``, as thrown into the flow.

    A generator thrown ``GeneratorExit`` through ``yield from`` is closed, not
    let finish, so the flow could not close what is open; it is handed this
    instead, and the driver re-raises the ``GeneratorExit`` once the flow is done.
    """

    def __init__(self, exit: GeneratorExit) -> None:
        super().__init__()
        self.exit = exit


Command = Consult | Sleep | Open | Read | Close | Emit | Delta
Flow = Generator[Command, Any, None]


def close(tags: list[Racer]) -> Generator[Command, Any, BaseException | None]:
    """Close every stream in ``tags`` (emptying it), each whatever happened to another.

    Returns the first error a close raised. An exception thrown in meanwhile (a
    second cancellation, say) is re-raised once every stream is closed.
    """
    failed: BaseException | None = None
    thrown: BaseException | None = None
    while tags:
        try:
            error = yield Close(tags.pop(0))
        except GeneratorExit:
            raise
        except BaseException as exc:
            thrown = thrown or exc
        else:
            failed = failed or error
    if thrown is not None:
        raise thrown
    return failed


class Live:
    """The attempt in flight."""

    __slots__ = (
        "chars",
        "chunks",
        "continuation",
        "finish_reason",
        "first_token_at",
        "held",
        "hop",
        "last_chunk_at",
        "number",
        "queued",
        "request_sent",
        "seam",
        "seam_held_for",
        "seam_result",
        "sent_at",
        "share",
        "started",
        "tool_parts",
        "usage",
        "whole",
    )

    def __init__(self, hop: Hop[Any], number: int, started: float, cont: Continuation | None):
        self.hop = hop
        self.number = number
        self.started = started
        self.continuation = cont
        self.first_token_at: float | None = None
        self.sent_at = started  # when the request left, if the client says; else the start
        self.queued = False  # the client holds the request, not sent yet (see `SendReports`)
        self.request_sent = False  # the client said its request left (`request_sent`)
        self.share: float | None = None  # seconds of the deadline it may wait for its first text
        self.last_chunk_at = started
        self.chunks = 0
        self.chars = 0
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.seam = None
        if cont is not None:
            self.seam = Seam(cont.text, sent=cont.message, insert_space=not cont.prefill)
        self.seam_result: SeamResult | None = None
        self.seam_held_for = 0.0  # seconds the seam held the continuation's first text back
        self.tool_parts: dict[int, list[ToolCallChunk]] = {}
        self.held: list[str] = []  # text a check needs whole before the caller may have it
        self.whole = False  # a whole reply, not a stream (see `Attempt`)


class SendReports:
    """What the hop's client reports about one attempt's request (see ``_sent``).

    Queued: the first-token wait is held. Sent: it counts from now. With
    ``held`` (a target that always reports its requests) the wait is held
    from the start, so nothing before the request leaves - the caller's own
    process busy with other calls included - counts. ``changed`` runs after
    each report that changed a limit, so a driver waiting on the old one can
    wait again. A report once the attempt has produced text (or ended)
    changes nothing.
    """

    __slots__ = ("_attempt", "_changed", "_clock")

    def __init__(
        self,
        attempt: Live,
        clock: Callable[[], float],
        changed: Callable[[], None],
        *,
        held: bool = False,
    ) -> None:
        self._attempt = attempt
        self._clock = clock
        self._changed = changed
        if held and attempt.first_token_at is None:
            attempt.queued = True

    def queued(self) -> None:
        attempt = self._attempt
        if attempt.first_token_at is None and not attempt.queued:
            attempt.queued = True
            self._changed()

    def sent(self) -> None:
        attempt = self._attempt
        if attempt.first_token_at is None:
            attempt.queued = False
            attempt.request_sent = True
            attempt.sent_at = self._clock()
            self._changed()


def assemble(parts: list[ToolCallChunk]) -> ToolCallChunk:
    """One complete tool call from its streamed fragments."""
    first = parts[0]
    if len(parts) == 1:
        return first
    return ToolCallChunk(
        index=first.index,
        id=next((p.id for p in parts if p.id), None),
        name=next((p.name for p in parts if p.name), None),
        arguments="".join(p.arguments for p in parts),
    )
