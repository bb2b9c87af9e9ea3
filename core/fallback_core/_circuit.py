"""The circuit of one hop identity, as pure values: its states, what moves it, who may call.

The story of one circuit:

- CLOSED: calls go through. Failures that say something about the provider
  (rate limits, 5xx, timeouts, dropped connections, broken streams, a refused
  key) are counted; ``failure_threshold`` in a row - or, if ``failure_rate`` is
  set, that share of the calls in the last ``window`` seconds, once
  ``min_calls`` were made - opens the circuit. A failure that carried a
  Retry-After holds the circuit for that long even below the threshold: no call
  goes until it passes, then calls flow again.
- OPEN: the hop is skipped without a call until ``cooldown`` (or a longer
  Retry-After) has passed.
- HALF_OPEN: after the cooldown one call - the probe - goes through, holding
  the circuit like a lease for one cooldown. Its success closes the circuit;
  its failure opens it again. A probe that ends with no verdict (cancelled, or
  a 400 the caller caused) lets the next call probe instead.

A success closes the circuit from any state once the cooldown has lapsed
(and always from HALF_OPEN). `transition`, `admit` and `consult` are pure:
the stores (in-process, Redis) keep the values, and a Redis store runs the
same rules as one Lua script (``_redis_script``), checked by the same tests.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from ._classify import Category
from ._errors import ConfigurationError
from ._valid import check_count, check_seconds

__all__ = [
    "COUNTED",
    "OUTCOMES",
    "Admission",
    "Breaker",
    "Circuit",
    "CircuitOutcome",
    "CircuitState",
    "Transition",
    "Verdict",
    "admit",
    "consult",
    "outcome_of",
    "transition",
    "wait",
]

#: Failures that say something about the provider, and so count against its circuit.
COUNTED = frozenset(
    {
        Category.RATE_LIMIT,
        Category.SERVER,
        Category.TIMEOUT,
        Category.CONNECTION,
        Category.TRUNCATED,
        Category.MALFORMED,
        Category.AUTH,
    }
)


#: What an ended attempt says about its provider: it served, it failed in a way
#: that counts (see `COUNTED`), or it says nothing either way (cancelled, or a
#: 400 the caller caused) - which only releases a probe it held.
CircuitOutcome = Literal["success", "failure", "neutral"]
OUTCOMES: frozenset[CircuitOutcome] = frozenset(get_args(CircuitOutcome))


class CircuitState(enum.Enum):
    """Where a circuit stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Breaker:
    """When a circuit opens and for how long; the same settings for every circuit of a `Health`."""

    failure_threshold: int = 5
    cooldown: float = 30.0
    failure_rate: float | None = None
    window: float = 60.0
    min_calls: int = 10

    def __post_init__(self) -> None:
        check_count("Breaker.failure_threshold", self.failure_threshold)
        check_seconds("Breaker.cooldown", self.cooldown, allow_none=False)
        check_seconds("Breaker.window", self.window, allow_none=False)
        if self.failure_rate is not None and not 0 < self.failure_rate <= 1:
            raise ConfigurationError(
                "Breaker.failure_rate", f"got {self.failure_rate!r}", "a share in (0, 1], or None"
            )
        check_count("Breaker.min_calls", self.min_calls)


@dataclass(frozen=True, slots=True)
class Circuit:
    """One hop identity's circuit, as a value: what `Health.health` returns."""

    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    last_error: str | None = None
    reopen_at: float | None = None  # OPEN: when a probe may go; CLOSED: held until (Retry-After)
    probing: bool = False  # HALF_OPEN: a probe holds the circuit until reopen_at
    recent: tuple[tuple[float, bool], ...] = field(default=(), repr=False)  # (time, failed)


@dataclass(frozen=True, slots=True)
class Transition:
    """A circuit changed state; given to `Health` listeners."""

    identity: str
    old: CircuitState
    new: CircuitState
    at: float
    error: str | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """How an attempt on ``identity`` ended, at time ``at``: what the store records.

    ``outcome`` is a `CircuitOutcome`; ``retry_after`` is the provider's own
    request to wait, if it made one.
    """

    identity: str
    outcome: CircuitOutcome
    at: float
    error: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """A store's answer to a consultation: which candidate may be called, and how the rest stand.

    ``chosen`` indexes the candidates (None: none may be called); ``probe``
    says the chosen call is its circuit's probe. ``waits`` and ``states`` hold,
    for each candidate, the seconds until it may be called and its state.
    ``store_up`` is set when the shared store was just lost (False, with
    ``store_error``) or found again (True); None when nothing changed.
    """

    chosen: int | None
    probe: bool = False
    waits: tuple[float, ...] = ()
    states: tuple[CircuitState, ...] = ()
    store_up: bool | None = None
    store_error: BaseException | None = None


def outcome_of(served: bool, category: Category | None) -> CircuitOutcome:
    """What an attempt that ``served`` the answer, or failed with ``category``, says of its hop."""
    if served:
        return "success"
    return "failure" if category in COUNTED else "neutral"


def transition(
    circuit: Circuit,
    outcome: CircuitOutcome,
    now: float,
    breaker: Breaker,
    error: str | None = None,
    retry_after: float | None = None,
) -> Circuit:
    """The circuit after an attempt ended with ``outcome``."""
    if outcome == "neutral":
        return replace(circuit, probing=False)
    failed = outcome == "failure"
    recent = circuit.recent
    if breaker.failure_rate is not None:
        recent = (*(r for r in recent if r[0] > now - breaker.window), (now, failed))
    if not failed:
        lapsed = circuit.reopen_at is None or now >= circuit.reopen_at
        if circuit.state is CircuitState.OPEN and not lapsed:  # a straggler from before
            return replace(circuit, recent=recent)
        if circuit.state is CircuitState.CLOSED and not lapsed:  # held by a Retry-After
            return replace(circuit, consecutive_failures=0, recent=recent)
        return Circuit(recent=recent)
    failures = circuit.consecutive_failures + 1
    hold = None if retry_after is None else now + retry_after
    opened = replace(
        circuit,
        state=CircuitState.OPEN,
        consecutive_failures=failures,
        last_error=error,
        reopen_at=_later(now + breaker.cooldown, hold),
        probing=False,
        recent=recent,
    )
    if circuit.state is CircuitState.HALF_OPEN:
        return opened
    if circuit.state is CircuitState.OPEN:  # a straggler: keep the cooldown already running
        return replace(opened, reopen_at=_later(circuit.reopen_at, hold))
    if failures >= breaker.failure_threshold or _rate_exceeded(recent, breaker):
        return opened
    held = circuit.reopen_at if circuit.reopen_at is not None and circuit.reopen_at > now else None
    return replace(
        circuit,
        consecutive_failures=failures,
        last_error=error,
        reopen_at=_later(held, hold),
        recent=recent,
    )


def admit(
    circuit: Circuit, now: float, breaker: Breaker, *, force: bool = False
) -> tuple[bool, Circuit]:
    """Whether a call may go through now, and the circuit after letting it through.

    A call let through a circuit that is not closed is its probe: the probe
    holds the circuit for one cooldown, after which another call may probe.
    ``force`` lets the call through regardless (every hop is open).
    """
    if circuit.state is CircuitState.CLOSED:
        return force or wait(circuit, now) == 0, circuit
    if force or wait(circuit, now) == 0:
        probe = replace(
            circuit, state=CircuitState.HALF_OPEN, probing=True, reopen_at=now + breaker.cooldown
        )
        return True, probe
    return False, circuit


def wait(circuit: Circuit, now: float) -> float:
    """Seconds until a call may go through ``circuit`` (0 if one may now)."""
    released = circuit.state is CircuitState.HALF_OPEN and not circuit.probing
    if released or circuit.reopen_at is None:
        return 0.0
    return max(0.0, circuit.reopen_at - now)


def consult(
    circuits: Mapping[str, Circuit],
    verdicts: Sequence[Verdict],
    candidates: Sequence[str],
    now: float,
    breaker: Breaker,
    *,
    force: bool,
) -> tuple[dict[str, Circuit], Admission]:
    """Record ``verdicts``, then admit the first candidate whose circuit lets a call through.

    With ``force``, if none does, the one that may be called soonest goes
    anyway, as a probe. Returns the circuits that changed and the answer.
    """
    changed: dict[str, Circuit] = {}

    def current(identity: str) -> Circuit:
        return changed.get(identity) or circuits.get(identity) or Circuit()

    for v in verdicts:
        changed[v.identity] = transition(
            current(v.identity), v.outcome, v.at, breaker, v.error, v.retry_after
        )
    waits = [wait(current(c), now) for c in candidates]
    chosen, probe = None, False
    for index, identity in enumerate(candidates):
        allowed, after = admit(current(identity), now, breaker)
        if allowed:
            chosen, probe = index, after.state is not CircuitState.CLOSED
            changed[identity] = after
            waits[index] = 0.0
            break
    if chosen is None and force and candidates:
        chosen = min(range(len(candidates)), key=waits.__getitem__)
        forced = admit(current(candidates[chosen]), now, breaker, force=True)[1]
        changed[candidates[chosen]] = forced
        probe = forced.state is not CircuitState.CLOSED
    states = tuple(current(c).state for c in candidates)
    return changed, Admission(chosen, probe, tuple(waits), states)


def _later(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return b if a is None else a
    return max(a, b)


def _rate_exceeded(recent: Sequence[tuple[float, bool]], breaker: Breaker) -> bool:
    if breaker.failure_rate is None or len(recent) < breaker.min_calls:
        return False
    return sum(failed for _, failed in recent) / len(recent) >= breaker.failure_rate
