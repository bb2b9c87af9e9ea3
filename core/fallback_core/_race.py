"""Hedged starts: a slow hop raced against the next one, as part of the call's flow.

`race` yields the same commands as the rest of the flow (see ``_steps``): it
reads both racers' streams at once, starts the rival when ``hedge_after``
passes with no text, and rules a racer out when it fails or misses its
first-token limit. A racer wins with its first delta carrying text, reasoning
or a tool call, or by ending its stream first (the walk then judges whether
that end was complete); the loser is closed. The last racer standing is not
settled but handed back, so its failure takes the walk's ordinary path.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ._errors import StreamTimeoutError
from ._steps import END, PRIMARY, RIVAL, TIMED_OUT, Close, Command, Emit, Open, Racer, Read
from ._types import Delta

if TYPE_CHECKING:
    from ._walk import Walk

__all__ = ["Won", "race"]

Won = tuple[Racer, list[Any], bool]
"""The winner, the deltas it produced while racing, and whether its stream already ended."""


def race(
    walk: Walk, hedge_after: float, opened: list[Racer]
) -> Generator[Command, Any, Won | BaseException]:
    """Race the live attempt (already open as `PRIMARY`) against a hedge; ``opened`` is kept.

    Returns the winner, or the error that ended the last racer standing.
    """
    clock = walk.clock
    hedge_at: float | None = clock() + hedge_after
    limits = {PRIMARY: _limit(walk.read_timeout(), clock())}
    buffers: dict[Racer, list[Any]] = {PRIMARY: []}

    def wait() -> float | None:
        times = [limit[0] for limit in limits.values() if limit is not None]
        if hedge_at is not None:
            times.append(hedge_at)
        return max(0.0, min(times) - clock()) if times else None

    while True:
        got = yield Read(tuple(buffers), wait)
        if got is TIMED_OUT:
            now = clock()
            late = [tag for tag, limit in limits.items() if limit is not None and now >= limit[0]]
            if hedge_at is not None and now >= hedge_at:
                hedge_at = None
                attempt = walk.hedge()
                if attempt is None:  # nothing to hedge with after all (e.g. every circuit open)
                    continue
                yield Emit(walk.drain())  # hooks hear of the rival before its stream opens
                buffers[RIVAL] = []
                limits[RIVAL] = _limit(walk.read_timeout(rival=True), now)
                error: BaseException | None = yield Open(RIVAL, attempt, None, True, True)
                if error is None:
                    opened.append(RIVAL)
                    continue
                tag = RIVAL
            elif late:
                tag = late[0]
                pending = limits[tag]
                assert pending is not None
                error = walk.timed_out(pending[1], rival=tag is RIVAL)
            else:
                continue
        else:
            tag, item, error = got
            if error is None:
                if item is not END:
                    buffers[tag].append(item)
                if item is END or _counts(item):
                    yield from _close_others(walk, tag, buffers, opened)
                    return tag, buffers[tag], item is END
                continue
            if not isinstance(error, Exception):
                raise error
        del buffers[tag], limits[tag]
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
    """Whether a racer's item wins the race: the caller would receive something of it.

    An item that is not a delta wins too, so the walk rejects it as malformed.
    """
    return not isinstance(item, Delta) or bool(item.text or item.tool_calls or item.reasoning)


def _close_others(
    walk: Walk, winner: Racer, buffers: dict[Racer, list[Any]], opened: list[Racer]
) -> Generator[Command, Any, None]:
    if len(buffers) == 1:
        return
    walk.settle(rival_won=winner is RIVAL)
    yield Emit(walk.drain())
    for tag in [t for t in opened if t is not winner]:
        opened.remove(tag)
        yield Close(tag)


def _limit(
    pending: StreamTimeoutError | None, now: float
) -> tuple[float, StreamTimeoutError] | None:
    return None if pending is None else (now + pending.limit, pending)
