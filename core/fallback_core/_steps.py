"""The values the walk and its drivers exchange, and the state of the attempt in flight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._seam import Seam, SeamResult
from ._types import Continuation, ToolCallChunk, Usage

if TYPE_CHECKING:
    from ._chain import Hop

__all__ = ["Attempt", "Fail", "Finish", "Live", "SendReports", "Sleep", "Step", "assemble"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """Call ``hop`` (its ``number``-th attempt in this call), continuing text if set.

    With ``hedge_after`` set, the driver races this attempt against the next
    hop if no text arrives within that many seconds (see `Walk.hedge`).
    """

    hop: Hop[Any]
    number: int
    continuation: Continuation | None
    hedge_after: float | None = None


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


Step = Attempt | Sleep | Finish | Fail


class Live:
    """The attempt in flight."""

    __slots__ = (
        "chars",
        "chunks",
        "continuation",
        "finish_reason",
        "first_token_at",
        "hop",
        "last_chunk_at",
        "number",
        "queued",
        "seam",
        "seam_result",
        "sent_at",
        "share",
        "started",
        "tool_parts",
        "usage",
    )

    def __init__(self, hop: Hop[Any], number: int, started: float, cont: Continuation | None):
        self.hop = hop
        self.number = number
        self.started = started
        self.continuation = cont
        self.first_token_at: float | None = None
        self.sent_at = started  # when the request left, if the client says; else the start
        self.queued = False  # the client holds the request, not sent yet (see `SendReports`)
        self.share: float | None = None  # seconds of the deadline it may wait for its first text
        self.last_chunk_at = started
        self.chunks = 0
        self.chars = 0
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.seam = None
        if cont is not None:
            self.seam = Seam(cont.text, insert_space=cont.strategy == "instruct")
        self.seam_result: SeamResult | None = None
        self.tool_parts: dict[int, list[ToolCallChunk]] = {}


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
