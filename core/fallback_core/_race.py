"""Hedged starts: the decisions of a race between a slow hop and the next one.

`Race` is pure, like the walk: it keeps the timers and the deltas each racer
produced, and turns what the driver observed (an item, an error, a timer
going off) into a verdict - start the rival, a racer lost, a racer won. The
drivers wait on their own primitive (a queue with a timeout, or an asyncio
queue) and carry the verdicts out.

A racer wins with its first delta carrying text or a tool call, or by ending
its stream first (the walk then judges whether that end was complete). A racer
loses by failing or by missing its first-token limit; the last racer standing
is not settled but handed back, so its failure takes the walk's ordinary path.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ._errors import StreamTimeoutError
from ._steps import Attempt
from ._types import Delta
from ._walk import Walk

__all__ = ["END", "PRIMARY", "RIVAL", "Lost", "Race", "Racer", "Signal", "Start", "Won"]


class Racer(enum.Enum):
    """Which attempt of a hedged start an item came from."""

    PRIMARY = "primary"
    RIVAL = "rival"


PRIMARY: Final = Racer.PRIMARY
RIVAL: Final = Racer.RIVAL


class Signal(enum.Enum):
    """What a read produced other than a delta."""

    END = "end"  # the stream ended
    TIMED_OUT = "timed out"  # the wait ran out first
    RECHECK = "recheck"  # a limit moved: compute the wait again


END: Final = Signal.END


@dataclass(frozen=True, slots=True)
class Start:
    """Start the rival attempt now."""

    attempt: Attempt


@dataclass(frozen=True, slots=True)
class Lost:
    """Racer ``tag`` is out (stop it); if none is left, raise ``error``."""

    tag: Racer
    error: BaseException


@dataclass(frozen=True, slots=True)
class Won:
    """Racer ``tag`` won: deliver ``deltas``, then keep reading it unless ``ended``."""

    tag: Racer
    deltas: list[Delta] = field(default_factory=list)
    ended: bool = False


Verdict = Start | Lost | Won | None


class Race:
    """One hedged start, from the primary's first read to a winner."""

    def __init__(self, walk: Walk, hedge_after: float, clock: Callable[[], float]) -> None:
        self._walk = walk
        self._clock = clock
        now = clock()
        self._hedge_at: float | None = now + hedge_after
        self._limits: dict[Racer, tuple[float, StreamTimeoutError] | None] = {
            PRIMARY: _limit(walk.read_timeout(), now)
        }
        self._buffers: dict[Racer, list[Delta]] = {PRIMARY: []}

    def wait(self) -> float | None:
        """Seconds until the next timer, or None to wait for an item indefinitely."""
        times = [limit[0] for limit in self._limits.values() if limit is not None]
        if self._hedge_at is not None:
            times.append(self._hedge_at)
        return max(0.0, min(times) - self._clock()) if times else None

    def on_timer(self) -> Verdict:
        """A wait ran out: start the rival, or rule out a racer that missed its limit."""
        now = self._clock()
        if self._hedge_at is not None and now >= self._hedge_at:
            self._hedge_at = None
            attempt = self._walk.hedge()
            if attempt is None:  # nothing to hedge with after all (e.g. every circuit open)
                return None
            self._buffers[RIVAL] = []
            self._limits[RIVAL] = _limit(self._walk.read_timeout(rival=True), now)
            return Start(attempt)
        for tag, limit in list(self._limits.items()):
            if limit is not None and now >= limit[0]:
                return self._lose(tag, self._walk.timed_out(limit[1], rival=tag == RIVAL))
        return None

    def on_item(
        self, tag: Racer, item: Delta | Signal | None, error: BaseException | None
    ) -> Verdict:
        """Racer ``tag`` produced ``item`` (`END` if its stream ended) or raised ``error``."""
        if tag not in self._buffers:
            return None  # a racer already ruled out
        if error is not None:
            return self._lose(tag, error)
        if not isinstance(item, Delta):
            return self._win(tag, ended=True)
        self._buffers[tag].append(item)
        if item.text or item.tool_calls:
            return self._win(tag, ended=False)
        return None

    def _lose(self, tag: Racer, error: BaseException) -> Lost:
        del self._buffers[tag]
        del self._limits[tag]
        if self._buffers:  # the other racer carries on alone
            self._walk.settle(rival_won=tag == PRIMARY, loser_error=error)
            self._hedge_at = None
        return Lost(tag, error)

    def _win(self, tag: Racer, *, ended: bool) -> Won:
        if len(self._buffers) > 1:
            self._walk.settle(rival_won=tag == RIVAL)
        return Won(tag, self._buffers[tag], ended)


def _limit(
    pending: StreamTimeoutError | None, now: float
) -> tuple[float, StreamTimeoutError] | None:
    return None if pending is None else (now + pending.limit, pending)
