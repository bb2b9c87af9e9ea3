"""Hedged starts: a slow hop raced against the next one, as part of the call's flow.

`race` reads both racers' streams at once, starts the rival when
``hedge_after`` passes with no text, and rules a racer out when it fails or
misses its first-token limit. A racer wins with its first delta carrying text,
reasoning or a tool call, or by ending its stream first (the walk then judges
that end); the loser is closed. The last racer standing is handed back
unsettled, so its failure takes the walk's ordinary path.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ._steps import END, PRIMARY, RIVAL, TIMED_OUT, Close, Command, Emit, Open, Racer, Read
from ._types import Delta

if TYPE_CHECKING:
    from ._walk import Walk

__all__ = ["Won", "race"]

Won = tuple[Racer, list[Any]]
"""The winner and what it produced while racing (`END` last if its stream ended)."""


def race(
    walk: Walk, hedge_after: float, opened: list[Racer]
) -> Generator[Command, Any, Won | BaseException]:
    """Race the live attempt (open as `PRIMARY`) against a hedge; return the winner or the error.

    ``opened`` is kept: the streams still open.
    """
    clock = walk.clock
    hedge_at: float | None = clock() + hedge_after
    buffers: dict[Racer, list[Any]] = {PRIMARY: []}

    def wait() -> float | None:
        waits = [walk.wait(walk.racer(tag)) for tag in buffers]
        times = [w for w in waits if w is not None]
        if hedge_at is not None:
            times.append(max(0.0, hedge_at - clock()))
        return min(times) if times else None

    while True:
        got = yield Read(tuple(buffers), wait)
        if got is TIMED_OUT:
            late = [(t, e) for t in buffers if (e := walk.expired(walk.racer(t))) is not None]
            if hedge_at is not None and clock() >= hedge_at:
                hedge_at = None
                attempt = walk.hedge()
                if attempt is None:  # nothing to hedge with after all (e.g. every circuit open)
                    continue
                yield Emit(walk.drain())  # hooks hear of the rival before its stream opens
                buffers[RIVAL] = []
                error: BaseException | None = yield Open(RIVAL, attempt, None, True, True)
                if error is None:
                    opened.append(RIVAL)
                    continue
                tag = RIVAL
            elif late:
                tag, error = late[0]
            else:
                continue
        else:
            tag, item, error = got
            if error is None:
                buffers[tag].append(item)
                if item is END or _counts(item):
                    if len(buffers) > 1:
                        walk.settle(rival_won=tag is RIVAL)
                        yield Emit(walk.drain())
                        for other in [t for t in opened if t is not tag]:
                            opened.remove(other)
                            yield Close(other)
                    return tag, buffers[tag]
                continue
            if not isinstance(error, Exception):
                raise error
        del buffers[tag]
        if tag in opened:
            opened.remove(tag)
            yield Close(tag)
        assert error is not None
        if not buffers:
            return error
        walk.settle(rival_won=tag is PRIMARY, loser_error=error)
        hedge_at = None
        yield Emit(walk.drain())


def _counts(item: object) -> bool:
    """Whether a racer's item wins: the caller would receive something of it (or a non-delta,
    which the walk then rejects as malformed)."""
    return not isinstance(item, Delta) or bool(item.text or item.tool_calls or item.reasoning)
