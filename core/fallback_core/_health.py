"""Shared health: a circuit breaker per hop identity, so an outage costs almost nothing.

`Health` holds the circuits of every hop identity (the rules are in
``_circuit``) in a store: this process's (`LocalStore`, the default), or one
shared by every process and replica pointing at the same Redis and key prefix
(``fallback_core.redis.RedisStore``). Share one `Health` between as many
chains as you like; it is safe across threads and tasks.

The walk consults it once before each attempt, handing over the verdicts of
the attempts that ended since - one store round trip per attempt, made by
the driver (awaited by the async one), never inside the pure walk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from ._circuit import (
    COUNTED,
    OUTCOMES,
    Admission,
    Breaker,
    Circuit,
    CircuitOutcome,
    CircuitState,
    Transition,
    Verdict,
    admit,
    transition,
    wait,
)
from ._errors import ConfigurationError
from ._steps import Consult
from ._store import LocalStore, Store

__all__ = [
    "COUNTED",
    "Breaker",
    "Circuit",
    "CircuitOutcome",
    "CircuitState",
    "Health",
    "Transition",
    "admit",
    "transition",
]

logger = logging.getLogger("fallback_core")


class Health:
    """The circuits of every hop identity; share one between chains to share what they learn.

    ``store`` keeps them (this process's memory by default; a
    ``fallback_core.redis.RedisStore`` shares them between processes).
    ``clock`` is injectable for tests; ``listeners`` are called with a
    `Transition` whenever a circuit changes state - here, or, with a shared
    store, in another process (heard within the store's refresh interval).
    """

    def __init__(
        self,
        breaker: Breaker | None = None,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.monotonic,
        listeners: Sequence[Callable[[Transition], object]] = (),
    ) -> None:
        if breaker is not None and not isinstance(breaker, Breaker):
            raise ConfigurationError("breaker", f"got {type(breaker).__name__}", "a Breaker")
        if store is not None and not isinstance(store, Store):
            raise ConfigurationError(
                "store", f"got {type(store).__name__}", "a LocalStore or a RedisStore"
            )
        self.breaker = breaker or Breaker()
        self.clock = clock
        self.listeners = list(listeners)
        self.store: Store = store if store is not None else LocalStore(clock)
        self.store.attach(self)

    # -- what the drivers perform ----------------------------------------------

    def consult(self, step: Consult) -> Admission:
        """Record the step's verdicts, then admit one of its candidates."""
        admission, changes = self.store.consult(self.breaker, step)
        self.announce(changes)
        return admission

    async def aconsult(self, step: Consult) -> Admission:
        """`consult` for the async driver."""
        admission, changes = await self.store.aconsult(self.breaker, step)
        self.announce(changes)
        return admission

    # -- by hand -----------------------------------------------------------------

    def admit(self, identity: str, *, force: bool = False) -> bool:
        """Whether a call to ``identity`` may go now (one let through an open circuit probes it)."""
        return self.consult(Consult((), (identity,), force)).chosen is not None

    def record(
        self,
        identity: str,
        outcome: CircuitOutcome,
        error: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        """An attempt on ``identity`` ended: ``"success"``, ``"failure"`` or ``"neutral"``."""
        if outcome not in OUTCOMES:
            raise ConfigurationError(
                "outcome", f"got {outcome!r}", "'success', 'failure' or 'neutral'"
            )
        self.consult(Consult((Verdict(identity, outcome, self.clock(), error, retry_after),), ()))

    def reopens_in(self, identity: str) -> float:
        """Seconds until ``identity`` may be called again (0 if it may be now)."""
        return wait(self.health().get(identity, Circuit()), self.clock())

    def health(self) -> Mapping[str, Circuit]:
        """A snapshot of every circuit seen so far."""
        return self.store.circuits()

    def announce(self, changes: Sequence[Transition]) -> None:
        """Tell every listener of ``changes``; a listener that raises is logged and skipped."""
        for change in changes:
            for listener in self.listeners:
                try:
                    listener(change)
                except Exception:
                    logger.exception("fallback_core: health listener %r failed", listener)
