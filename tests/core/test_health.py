"""Shared health: circuits open on provider failures, skip the hop, probe once per cooldown.

The circuit's story told through `Health` runs on both stores in
``tests/redis/test_store.py``; here, the pure transitions and the walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fallback_core import (
    Breaker,
    Chain,
    CircuitOutcome,
    CircuitState,
    ConfigurationError,
    Continuation,
    Delta,
    Health,
    Hop,
    HopSkipped,
)
from fallback_core._health import Circuit, transition

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, ok


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


BREAKER = Breaker(failure_threshold=3, cooldown=30)


def test_consecutive_provider_failures_open_the_circuit() -> None:
    """Three counted failures in a row open it; a success in between resets the count."""
    c = Circuit()
    for outcome in ("failure", "failure", "success", "failure", "failure"):
        c = transition(c, outcome, 0.0, BREAKER)
    assert (c.state, c.consecutive_failures) == (CircuitState.CLOSED, 2)
    c = transition(c, "failure", 5.0, BREAKER, "boom")
    assert (c.state, c.reopen_at, c.last_error) == (CircuitState.OPEN, 35.0, "boom")


def test_failure_rate_over_a_window_opens_the_circuit() -> None:
    """With failure_rate set, that share of recent calls opens it once enough calls were made."""
    breaker = Breaker(failure_threshold=100, failure_rate=0.5, window=60, min_calls=4)
    c = Circuit()
    calls: list[tuple[float, CircuitOutcome]] = [(0, "success"), (1, "failure"), (2, "success")]
    for t, outcome in calls:
        c = transition(c, outcome, t, breaker)
    assert c.state is CircuitState.CLOSED, "too few calls to judge"
    c = transition(c, "failure", 3, breaker)
    assert c.state is CircuitState.OPEN
    old = transition(Circuit(), "failure", 0, breaker)
    old = transition(old, "failure", 1, breaker)
    later = transition(transition(old, "success", 100, breaker), "success", 101, breaker)
    assert later.state is CircuitState.CLOSED, "failures outside the window no longer count"


def test_bad_breaker_settings_are_named() -> None:
    """Breaker settings are checked at construction."""
    with pytest.raises(ConfigurationError, match=r"Breaker\.failure_threshold"):
        Breaker(failure_threshold=0)
    with pytest.raises(ConfigurationError, match=r"Breaker\.cooldown"):
        Breaker(cooldown=0)
    with pytest.raises(ConfigurationError, match=r"Breaker\.failure_rate"):
        Breaker(failure_rate=1.5)
    with pytest.raises(ConfigurationError, match="health"):
        Chain([Scripted(ok("x"))], health="shared")  # type: ignore[arg-type]


def test_a_verdict_that_is_not_an_outcome_is_refused() -> None:
    """`Health.record` refuses a bool (the old form) by name rather than counting it a failure."""
    health = Health(BREAKER)
    with pytest.raises(ConfigurationError, match=r"outcome: got True"):
        health.record("p", True)  # type: ignore[arg-type]
    assert health.health() == {}


# -- the walk with health -----------------------------------------------------------


def chain(health: Health, *targets: Any) -> tuple[Chain[object], list[object]]:
    events: list[object] = []
    hops = [t if isinstance(t, Hop) else Hop(t, name=t.name) for t in targets]
    return Chain(hops, health=health, hooks=[events.append]), events


def test_open_primary_is_skipped_without_a_call(drive: Drive) -> None:
    """Once the primary's circuit opens, calls go straight to the backup."""
    clock = Clock()
    health = Health(BREAKER, clock=clock)
    primary = Scripted(openai_error(503), name="p")
    backup = Scripted(ok("b"), name="b")
    built, events = chain(health, Hop(primary, name="p", max_attempts=1), backup)
    for _ in range(3):
        assert drive(built).text == "b"
    assert len(primary.calls) == 3
    run = drive(built)
    assert run.text == "b"
    assert len(primary.calls) == 3, "skipped: no call while open"
    skipped = [e for e in events if isinstance(e, HopSkipped)]
    assert [(s.hop, s.reason, s.reopens_in) for s in skipped] == [("p", "circuit open", 30.0)]
    assert [a.hop for a in run.trace.attempts] == ["b"]


def test_caller_errors_do_not_open_a_circuit(drive: Drive) -> None:
    """A 400 the caller caused says nothing about the provider and is not counted."""
    health = Health(BREAKER, clock=Clock())
    built, _ = chain(health, Scripted(openai_error(400), name="p"), Scripted(ok("b"), name="b"))
    for _ in range(5):
        drive(built)
    assert health.health()["p"].consecutive_failures == 0


def test_when_every_hop_is_open_the_soonest_to_reopen_is_tried(drive: Drive) -> None:
    """With every circuit open the walk still calls one hop - the one whose cooldown ends first."""
    clock = Clock()
    health = Health(BREAKER, clock=clock)
    for _ in range(3):
        health.record("b", "failure")
    clock.now += 10
    for _ in range(3):
        health.record("p", "failure")
    primary, backup = Scripted(ok("p"), name="p"), Scripted(ok("b answers"), name="b")
    built, _ = chain(health, primary, backup)
    run = drive(built)
    assert run.text == "b answers"
    assert primary.calls == []
    assert health.health()["b"].state is CircuitState.CLOSED, "its success closes the circuit"


def test_chains_sharing_health_share_what_they_learn(drive: Drive) -> None:
    """A circuit opened through one chain is skipped by another chain sharing the Health."""
    health = Health(BREAKER, clock=Clock())
    down = Scripted(openai_error(503), name="p")
    first, _ = chain(health, Hop(down, name="p", identity="openai/gpt@api"), Scripted(ok("b")))
    for _ in range(2):
        drive(first)  # two calls, a 503 and its retry each: four failures
    other = Scripted(ok("never"), name="q")
    second, _ = chain(health, Hop(other, name="q", identity="openai/gpt@api"), Scripted(ok("x")))
    assert drive(second).text == "x"
    assert other.calls == []


class Flapping:
    """Down (503) until the clock reaches ``up_at``, healthy after."""

    def __init__(self, clock: Clock, up_at: float) -> None:
        self.clock, self.up_at = clock, up_at
        self.calls: list[float] = []
        self.name = "p"

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        self.calls.append(self.clock.now)
        if self.clock.now < self.up_at:
            raise openai_error(503)
        yield Delta(text="primary", finish_reason="stop")

    async def astream(self, request: Any, continuation: Continuation | None) -> Any:
        for delta in self.stream(request, continuation):
            yield delta


def test_flapping_primary_costs_one_probe_per_cooldown_and_returns_after_recovery(
    drive: Drive,
) -> None:
    """Down, the backup serves, one probe per cooldown. Up, the primary is back in one cooldown."""
    clock = Clock()
    health = Health(BREAKER, clock=clock)
    primary = Flapping(clock, up_at=clock.now + 100)
    built, _ = chain(health, Hop(primary, name="p", max_attempts=1), Scripted(ok("b"), name="b"))
    served = []
    for _ in range(60):  # a call every 3 seconds for 180 seconds
        served.append((clock.now, drive(built).trace.served_by))
        clock.now += 3
    down_calls = [t for t in primary.calls if t < primary.up_at]
    assert len(down_calls) <= 3 + (100 // 30) + 1, "threshold, then at most one probe per cooldown"
    first_primary = min(t for t, hop in served if hop == "p")
    assert primary.up_at <= first_primary <= primary.up_at + BREAKER.cooldown
    assert all(hop == "p" for t, hop in served if t >= first_primary)


def test_hedge_never_starts_a_rival_whose_circuit_is_open(drive: Drive) -> None:
    """A slow primary is not hedged with a backup that shared health says is down."""
    from fallback_core import HedgeStarted, Policy

    from .scripted import Stall

    health = Health(BREAKER, clock=Clock())
    for _ in range(3):
        health.record("b", "failure")
    primary = Scripted([Stall(0.1), *ok("waited for")], name="p")
    backup = Scripted(ok("never"), name="b")
    events: list[object] = []
    built = Chain(
        [Hop(primary, name="p"), Hop(backup, name="b")],
        policy=Policy(hedge_after=0.02),
        health=health,
        hooks=[events.append],
    )
    assert drive(built).text == "waited for"
    assert backup.calls == []
    assert not [e for e in events if isinstance(e, HedgeStarted)]
