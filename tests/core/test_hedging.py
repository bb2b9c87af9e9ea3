"""Hedging (opt-in): a hop slow to its first token races the next hop; the first text wins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fallback_core import (
    Category,
    Chain,
    ChainExhaustedError,
    ConfigurationError,
    Delta,
    HedgeStarted,
    Hop,
    HopEnded,
    Policy,
)

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, Stall, cut, ok


def hedged(
    *targets: Scripted, hedge_after: float = 0.05, **hop: object
) -> tuple[Chain[object], list[object]]:
    events: list[object] = []
    chain = Chain(
        [Hop(t, name=t.name, **hop) for t in targets],  # type: ignore[arg-type]
        policy=Policy(hedge_after=hedge_after, backoff=lambda n: 0.0),
        hooks=[events.append],
    )
    return chain, events


def test_slow_primary_is_outrun_by_the_hedge(drive: Drive) -> None:
    """With no text by hedge_after the backup starts; its first text wins, the primary is closed."""
    primary = Scripted([Stall(5), "late", "answer"], name="p")
    backup = Scripted(ok("fast", " answer"), name="b")
    chain, events = hedged(primary, backup)
    run = drive(chain)
    assert run.text == "fast answer"
    assert run.trace.served_by == "b"
    assert [(a.hop, a.outcome) for a in run.trace.attempts] == [("p", "hedge_lost"), ("b", "ok")]
    assert [(e.hop, e.rival) for e in events if isinstance(e, HedgeStarted)] == [("p", "b")]


def test_primary_that_answers_in_time_is_never_hedged(drive: Drive) -> None:
    """A primary whose first text beats hedge_after serves alone."""
    primary = Scripted(ok("quick"), name="p")
    backup = Scripted(ok("b"), name="b")
    chain, events = hedged(primary, backup, hedge_after=5)
    run = drive(chain)
    assert run.text == "quick"
    assert backup.calls == []
    assert not [e for e in events if isinstance(e, HedgeStarted)]


def test_primary_can_still_win_after_the_hedge_starts(drive: Drive) -> None:
    """The race is to the first text: a primary that speaks before the rival keeps the call."""
    primary = Scripted([Stall(0.15), "primary", " wins", ok()[-1]], name="p")  # type: ignore[list-item]
    backup = Scripted([Stall(5), "too late"], name="b")
    chain, _ = hedged(primary, backup)
    run = drive(chain)
    assert run.text == "primary wins"
    # records are kept in the order attempts end: the outrun rival ends first
    assert [(a.hop, a.outcome) for a in run.trace.attempts] == [("b", "hedge_lost"), ("p", "ok")]


def test_never_hedge_after_the_first_token(drive: Drive) -> None:
    """Once text has flowed, a stall is an idle timeout and a continuation, never a hedge."""
    primary = Scripted(cut("started", Stall(5)), name="p")
    backup = Scripted(ok(" and finished"), name="b")
    chain, events = hedged(primary, backup, idle_timeout=0.2)
    run = drive(chain)
    assert run.text == "started and finished"
    assert not [e for e in events if isinstance(e, HedgeStarted)]
    assert backup.calls[0].continuation is not None


def test_primary_failing_during_the_race_leaves_the_rival_to_serve(drive: Drive) -> None:
    """If the primary fails after the hedge started, the rival carries on alone."""
    primary = Scripted([Stall(0.1), ConnectionResetError()], name="p")
    backup = Scripted([Stall(0.2), *ok("rival")], name="b")
    chain, events = hedged(primary, backup)
    run = drive(chain)
    assert run.text == "rival"
    ended = [(e.hop, e.outcome) for e in events if isinstance(e, HopEnded)]
    assert ended == [("p", "failed"), ("b", "ok")]


def test_both_racers_failing_moves_on_to_the_next_hop(drive: Drive) -> None:
    """A race both racers lose is an ordinary failure: the walk moves on."""
    first = Scripted([Stall(0.1), ConnectionResetError()], name="p")
    second = Scripted(openai_error(401), name="b")
    third = Scripted(ok("third"), name="c")
    chain, _ = hedged(first, second, third)
    run = drive(chain)
    assert run.text == "third"
    assert [a.hop for a in run.trace.attempts] == ["b", "p", "c"]


def test_rival_missing_its_first_token_limit_loses(drive: Drive) -> None:
    """Each racer keeps its own first-token limit; a racer missing it is ruled out."""
    primary = Scripted([Stall(0.3), *ok("slow but sure")], name="p")
    backup = Scripted([Stall(5), "never"], name="b")
    chain, _ = hedged(primary, backup, first_token_timeout=0.15)
    run = drive(chain)
    assert isinstance(run.error, ChainExhaustedError)
    assert [(a.hop, a.outcome, a.category) for a in run.trace.attempts] == [
        ("p", "failed", Category.TIMEOUT),
        ("b", "failed", Category.TIMEOUT),
    ]


def test_last_hop_is_never_hedged(drive: Drive) -> None:
    """With no hop after it, a slow hop is simply waited for."""
    only = Scripted([Stall(0.1), *ok("alone")], name="p")
    chain, events = hedged(only)
    assert drive(chain).text == "alone"
    assert not [e for e in events if isinstance(e, HedgeStarted)]


def test_hedge_after_must_be_positive() -> None:
    """A zero or negative hedge delay is refused at construction."""
    import pytest

    with pytest.raises(ConfigurationError, match="hedge_after"):
        Policy(hedge_after=0)


def test_hedge_respects_the_attempt_budget(drive: Drive) -> None:
    """A hedge is an attempt: with the budget spent, the slow hop is waited for alone."""
    primary = Scripted([Stall(0.1), *ok("waited")], name="p")
    backup = Scripted(ok("b"), name="b")
    chain = Chain(
        [Hop(primary, name="p"), Hop(backup, name="b")],
        policy=Policy(hedge_after=0.02, max_attempts=1),
    )
    assert drive(chain).text == "waited"
    assert backup.calls == []


class _Announced(Scripted):
    """A rival that notes, when its stream is opened, which events the hooks had heard."""

    def __init__(self, events: list[object], *scripts: object, name: str) -> None:
        super().__init__(*scripts, name=name)  # type: ignore[arg-type]
        self.events = events
        self.heard: list[str] = []

    def _script(self, request: object, continuation: object) -> object:  # type: ignore[override]
        self.heard = [type(e).__name__ for e in self.events]
        return super()._script(request, continuation)  # type: ignore[arg-type]


def test_hooks_hear_of_the_rival_before_its_stream_is_opened(drive: Drive) -> None:
    """A hedge's HedgeStarted and the rival's HopStarted reach the hooks before the rival is
    called, so a hook's span for the rival covers all of its I/O."""
    events: list[object] = []
    primary = Scripted([Stall(5), "late"], name="p")
    backup = _Announced(events, ok("fast"), name="b")
    chain = Chain(
        [Hop(primary, name="p"), Hop(backup, name="b")],  # type: ignore[arg-type]
        policy=Policy(hedge_after=0.05, backoff=lambda n: 0.0),
        hooks=[events.append],
    )
    run = drive(chain)
    assert run.text == "fast"
    assert backup.heard == ["HopStarted", "HedgeStarted", "HopStarted"]


def test_each_racer_keeps_its_own_hook_scope(drive: Drive) -> None:
    """A hook's scope is per attempt: the outrun primary's end exits only its own scope, and
    the rival's scope stays open while the rival streams, exiting with the rival's outcome."""
    log: list[str] = []

    class Scope:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            log.append(f"enter {self.name}")

        def __exit__(self, kind: object, error: object, tb: object) -> None:
            log.append(f"exit {self.name} {type(error).__name__ if error else 'ok'}")

    def hook(event: object) -> Scope | None:
        if isinstance(event, HopEnded):
            log.append(f"ended {event.hop}")
        return Scope(event.hop) if type(event).__name__ == "HopStarted" else None  # type: ignore[attr-defined]

    class Watched(Scripted):
        def _play(self, script: object) -> Iterator[Delta]:  # type: ignore[override]
            for delta in super()._play(script):  # type: ignore[arg-type]
                log.append(f"{self.name} says {delta.text!r}")
                yield delta

        async def _aplay(self, script: object) -> AsyncIterator[Delta]:  # type: ignore[override]
            async for delta in super()._aplay(script):  # type: ignore[arg-type]
                log.append(f"{self.name} says {delta.text!r}")
                yield delta

    primary = Scripted([Stall(5), "late"], name="p")
    backup = Watched(ok("fast", " and", " done"), name="b")
    chain = Chain(
        [Hop(primary, name="p"), Hop(backup, name="b")],  # type: ignore[arg-type]
        policy=Policy(hedge_after=0.05, backoff=lambda n: 0.0),
        hooks=[hook],
    )
    run = drive(chain)
    assert run.text == "fast and done"
    assert log == [
        "enter p",
        "enter b",
        "b says 'fast'",
        "ended p",  # the loser ends under the rival's open scope: its scope waits
        "b says ' and'",
        "b says ' done'",
        "b says ''",
        "ended b",
        "exit b ok",
        "exit p ok",
    ]
