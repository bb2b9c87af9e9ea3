"""The circuit story told to both stores - this process's memory and a real Redis - and kept alike.

A Redis `Health` built twice on one prefix is two processes of a fleet: what
one learns, the other knows.
"""

from __future__ import annotations

import threading

import pytest

from fallback_core import (
    Breaker,
    Chain,
    CircuitState,
    ConfigurationError,
    Health,
    Hop,
    Transition,
)
from fallback_core._circuit import Circuit

from ..core.conftest import Drive
from ..core.errors import openai_error
from ..core.scripted import Scripted, ok
from .conftest import Clock, MakeHealth

BREAKER = Breaker(failure_threshold=3, cooldown=30)


def test_failures_open_the_circuit_and_one_probe_goes_per_cooldown(make_health: MakeHealth) -> None:
    """Three counted failures open it; after the cooldown exactly one probe goes, then none."""
    clock = Clock()
    health = make_health(BREAKER, clock)
    health.record("p", "failure")
    health.record("p", "success")
    for _ in range(3):
        health.record("p", "failure", "boom")
    assert health.health()["p"] == Circuit(CircuitState.OPEN, 3, "boom", 1030.0)
    assert not health.admit("p")
    assert health.reopens_in("p") == 30
    clock.now += 30
    assert health.admit("p"), "the probe"
    assert not health.admit("p"), "only one probe at a time"
    clock.now += 30
    assert health.admit("p"), "a probe that never reported frees the circuit after a cooldown"


def test_probe_success_closes_and_failure_reopens(make_health: MakeHealth) -> None:
    """The probe decides: success closes the circuit, failure opens it for another cooldown."""
    clock = Clock()
    health = make_health(BREAKER, clock)
    for _ in range(3):
        health.record("p", "failure")
    clock.now += 30
    assert health.admit("p")
    health.record("p", "failure")
    assert health.health()["p"].state is CircuitState.OPEN
    assert health.reopens_in("p") == 30
    clock.now += 30
    assert health.admit("p")
    health.record("p", "success")
    assert health.health()["p"] == Circuit(state=CircuitState.CLOSED)


def test_a_straggler_success_keeps_the_cooldown_and_no_verdict_frees_the_probe(
    make_health: MakeHealth,
) -> None:
    """A success from before the cooldown lapsed keeps it open; a probe with no verdict lets
    the next call probe."""
    clock = Clock()
    health = make_health(BREAKER, clock)
    for _ in range(3):
        health.record("p", "failure")
    clock.now += 5
    health.record("p", "success")
    assert health.health()["p"].state is CircuitState.OPEN
    clock.now += 25
    assert health.admit("p")
    health.record("p", "neutral")
    assert health.admit("p"), "released: the next call probes"


def test_retry_after_holds_the_circuit_for_everyone(make_health: MakeHealth) -> None:
    """A 429's Retry-After keeps every caller off the identity until it passes, below the
    threshold; then calls flow again without a probe."""
    clock = Clock()
    first, second = make_health(BREAKER, clock), make_health(BREAKER, clock)
    first.record("p", "failure", "429", retry_after=12)
    held = second if make_health.kind == "redis" else first  # type: ignore[attr-defined]
    assert held.health()["p"].state is CircuitState.CLOSED
    assert not held.admit("p")
    assert held.reopens_in("p") == 12
    clock.now += 12
    assert held.admit("p")
    assert held.admit("p"), "closed: not a probe, everyone may call"
    for _ in range(2):
        first.record("p", "failure", "429", retry_after=100)
    assert first.health()["p"].reopen_at == clock.now + 100, "a longer Retry-After than cooldown"


def test_a_refused_key_opens_the_circuit_and_a_caller_error_does_not(
    make_health: MakeHealth, drive: Drive
) -> None:
    """A 401 is counted - every call with that key would fail - while a 400 the caller caused
    says nothing about the provider."""
    health = make_health(BREAKER, Clock())
    refused = Scripted(openai_error(401), name="p")
    chain = Chain([Hop(refused, name="p"), Hop(Scripted(ok("b")), name="b")], health=health)
    for _ in range(4):
        assert drive(chain).text == "b"
    assert len(refused.calls) == 3
    assert health.health()["p"].state is CircuitState.OPEN
    caller = Chain(
        [Hop(Scripted(openai_error(400), name="q"), name="q"), Hop(Scripted(ok("b")), name="b")],
        health=health,
    )
    for _ in range(4):
        drive(caller)
    assert health.health()["q"].consecutive_failures == 0


def test_failure_rate_over_a_window_opens_the_circuit(make_health: MakeHealth) -> None:
    """With failure_rate set, that share of recent calls opens it once enough calls were made."""
    clock = Clock()
    breaker = Breaker(failure_threshold=100, failure_rate=0.5, window=60, min_calls=4)
    health = make_health(breaker, clock)
    for outcome in ("success", "failure", "success"):
        health.record("p", outcome)
        clock.now += 1
    assert health.health()["p"].state is CircuitState.CLOSED, "too few calls to judge"
    health.record("p", "failure")
    assert health.health()["p"].state is CircuitState.OPEN
    health.record("q", "failure")
    health.record("q", "failure")
    clock.now += 100
    health.record("q", "success")
    health.record("q", "success")
    assert health.health()["q"].state is CircuitState.CLOSED, "old failures left the window"


def test_listeners_hear_every_transition(make_health: MakeHealth) -> None:
    """Listeners get each state change once; one that raises is logged, not propagated."""
    clock = Clock()
    heard: list[tuple[CircuitState, CircuitState]] = []

    def broken(change: Transition) -> None:
        raise RuntimeError("listener bug")

    health = make_health(BREAKER, clock, listeners=[broken, lambda t: heard.append((t.old, t.new))])
    for _ in range(3):
        health.record("p", "failure")
    clock.now += 30
    health.admit("p")
    health.record("p", "success")
    assert heard == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


def test_callers_racing_for_the_probe_let_exactly_one_through(make_health: MakeHealth) -> None:
    """Sixteen threads - on two Healths, for Redis: two processes - ask at once: one probe."""
    clock = Clock()
    healths = [make_health(BREAKER, clock), make_health(BREAKER, clock)]
    if make_health.kind == "local":  # type: ignore[attr-defined]
        healths = [healths[0], healths[0]]  # one process's memory is shared only in-process
    for _ in range(3):
        healths[0].record("p", "failure")
    clock.now += 31
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def ask(health: Health) -> None:
        barrier.wait()
        results.append(health.admit("p"))

    threads = [threading.Thread(target=ask, args=(healths[i % 2],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 15 + [True]


def test_bad_health_arguments_are_named() -> None:
    """Health checks its breaker and store at construction."""
    with pytest.raises(ConfigurationError, match="breaker"):
        Health({"failure_threshold": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="store"):
        Health(store="redis://localhost")  # type: ignore[arg-type]
