"""Shared health: a circuit breaker per hop identity, so an outage costs almost nothing.

The story of one circuit:

- CLOSED: calls go through. Failures that say something about the provider
  (rate limits, 5xx, timeouts, dropped connections, broken streams) are
  counted; ``failure_threshold`` in a row - or, if ``failure_rate`` is set, that
  share of the calls in the last ``window`` seconds, once ``min_calls`` were
  made - opens the circuit.
- OPEN: the hop is skipped without a call until ``cooldown`` has passed.
- HALF_OPEN: after the cooldown one call - the probe - goes through. Its
  success closes the circuit; its failure opens it again for another cooldown.
  A probe that ends with no verdict (cancelled, or a 400 the caller caused)
  lets the next call probe instead.

A success closes the circuit from any state once the cooldown has lapsed
(and always from CLOSED or HALF_OPEN). `transition` is pure; `Health` holds
the circuits of every hop identity, shared by as many chains as you like, and
is safe across threads and tasks.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ._classify import Category
from ._errors import ConfigurationError

__all__ = [
    "COUNTED",
    "Breaker",
    "Circuit",
    "CircuitState",
    "Health",
    "Transition",
    "admit",
    "transition",
]

logger = logging.getLogger("fallback_core")

#: Failures that say something about the provider, and so count against its circuit.
COUNTED = frozenset(
    {
        Category.RATE_LIMIT,
        Category.SERVER,
        Category.TIMEOUT,
        Category.CONNECTION,
        Category.TRUNCATED,
        Category.MALFORMED,
    }
)


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
        if not isinstance(self.failure_threshold, int) or self.failure_threshold < 1:
            raise ConfigurationError(
                "Breaker.failure_threshold", f"got {self.failure_threshold!r}", "an int >= 1"
            )
        for name in ("cooldown", "window"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"Breaker.{name}", f"got {value!r}", "seconds > 0")
        if self.failure_rate is not None and not 0 < self.failure_rate <= 1:
            raise ConfigurationError(
                "Breaker.failure_rate", f"got {self.failure_rate!r}", "a share in (0, 1], or None"
            )
        if not isinstance(self.min_calls, int) or self.min_calls < 1:
            raise ConfigurationError("Breaker.min_calls", f"got {self.min_calls!r}", "an int >= 1")


@dataclass(frozen=True, slots=True)
class Circuit:
    """One hop identity's circuit, as a value: what `health()` returns."""

    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    last_error: str | None = None
    reopen_at: float | None = None  # while OPEN: when the next probe may go
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


def transition(
    circuit: Circuit, outcome: bool | None, now: float, breaker: Breaker, error: str | None = None
) -> Circuit:
    """The circuit after an attempt ended.

    ``outcome`` is True for a success, False for a counted failure, None for
    an attempt that says nothing about the provider.
    """
    if outcome is None:
        return replace(circuit, probing=False)
    recent = circuit.recent
    if breaker.failure_rate is not None:
        recent = (*(r for r in recent if r[0] > now - breaker.window), (now, not outcome))
    if outcome:
        lapsed = circuit.reopen_at is None or now >= circuit.reopen_at
        if circuit.state is CircuitState.OPEN and not lapsed:
            return replace(circuit, recent=recent)
        return Circuit(recent=recent)
    failures = circuit.consecutive_failures + 1
    opened = replace(
        circuit,
        state=CircuitState.OPEN,
        consecutive_failures=failures,
        last_error=error,
        reopen_at=now + breaker.cooldown,
        probing=False,
        recent=recent,
    )
    if circuit.state is CircuitState.HALF_OPEN:
        return opened
    if circuit.state is CircuitState.OPEN:  # a straggler: keep the cooldown already running
        return replace(opened, reopen_at=circuit.reopen_at)
    if failures >= breaker.failure_threshold or _rate_exceeded(recent, breaker):
        return opened
    return replace(circuit, consecutive_failures=failures, last_error=error, recent=recent)


def admit(
    circuit: Circuit, now: float, breaker: Breaker, *, force: bool = False
) -> tuple[bool, Circuit]:
    """Whether a call may go through now, and the circuit after letting it through.

    A call let through a circuit that is not closed is its probe: the probe
    holds the circuit for one cooldown, after which another call may probe.
    ``force`` lets the call through regardless, as a probe (every hop is open).
    """
    if circuit.state is CircuitState.CLOSED:
        return True, circuit
    probe_due = circuit.reopen_at is None or now >= circuit.reopen_at
    released = circuit.state is CircuitState.HALF_OPEN and not circuit.probing
    if force or probe_due or released:
        probe = replace(
            circuit, state=CircuitState.HALF_OPEN, probing=True, reopen_at=now + breaker.cooldown
        )
        return True, probe
    return False, circuit


def _rate_exceeded(recent: Sequence[tuple[float, bool]], breaker: Breaker) -> bool:
    if breaker.failure_rate is None or len(recent) < breaker.min_calls:
        return False
    return sum(failed for _, failed in recent) / len(recent) >= breaker.failure_rate


class Health:
    """The circuits of every hop identity; share one between chains to share what they learn.

    ``clock`` is injectable for tests; ``listeners`` are called (outside the
    lock) with a `Transition` whenever a circuit changes state.
    """

    def __init__(
        self,
        breaker: Breaker | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        listeners: Sequence[Callable[[Transition], object]] = (),
    ) -> None:
        self.breaker = breaker or Breaker()
        self.clock = clock
        self.listeners = list(listeners)
        self._circuits: dict[str, Circuit] = {}
        self._lock = threading.Lock()

    def admit(self, identity: str, *, force: bool = False) -> bool:
        """Whether a call to ``identity`` may go now (one let through an open circuit probes it)."""
        now = self.clock()
        with self._lock:
            old = self._circuits.get(identity, Circuit())
            allowed, new = admit(old, now, self.breaker, force=force)
            self._circuits[identity] = new
        self._announce(identity, old, new, now)
        return allowed

    def record(self, identity: str, outcome: bool | None, error: str | None = None) -> None:
        """An attempt on ``identity`` ended: success, counted failure, or no verdict (None)."""
        now = self.clock()
        with self._lock:
            old = self._circuits.get(identity, Circuit())
            new = transition(old, outcome, now, self.breaker, error)
            self._circuits[identity] = new
        self._announce(identity, old, new, now)

    def reopens_in(self, identity: str) -> float:
        """Seconds until ``identity`` may be called again (0 if it may be now)."""
        circuit = self.health().get(identity, Circuit())
        if circuit.state is CircuitState.CLOSED or circuit.reopen_at is None:
            return 0.0
        return max(0.0, circuit.reopen_at - self.clock())

    def health(self) -> Mapping[str, Circuit]:
        """A snapshot of every circuit seen so far."""
        with self._lock:
            return dict(self._circuits)

    def _announce(self, identity: str, old: Circuit, new: Circuit, now: float) -> None:
        if old.state is new.state or not self.listeners:
            return
        change = Transition(identity, old.state, new.state, now, new.last_error)
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:
                logger.exception("fallback_core: health listener %r failed", listener)
