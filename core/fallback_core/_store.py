"""Where a `Health` keeps its circuits: the protocol, and the in-process store.

A store answers one question per attempt - record these verdicts, then which
of these candidates may be called - atomically, as `consult` / `aconsult`
(the sync and async drivers' forms of the same call), and can show every
circuit it holds. `LocalStore` keeps them in this process, behind a lock;
``fallback_core.redis.RedisStore`` shares them between processes and hosts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._circuit import Admission, Breaker, Circuit, Transition, consult

if TYPE_CHECKING:
    from ._health import Health
    from ._steps import Consult

__all__ = ["Consulted", "LocalStore", "Store", "transitions"]

#: A store's answer to a consultation: the admission, and the state changes it made or saw.
Consulted = tuple[Admission, list[Transition]]


@runtime_checkable
class Store(Protocol):
    """What `Health` needs from a store of circuits."""

    def consult(self, breaker: Breaker, step: Consult) -> Consulted:
        """Record the step's verdicts, then admit one of its candidates (see `_circuit.consult`)."""
        ...

    async def aconsult(self, breaker: Breaker, step: Consult) -> Consulted:
        """The same as `consult`, for the async driver: it never blocks the event loop."""
        ...

    def circuits(self) -> Mapping[str, Circuit]:
        """A snapshot of every circuit, times in the owning `Health`'s clock."""
        ...

    def attach(self, health: Health) -> None:
        """``health`` uses this store: its clock stamps verdicts, its listeners hear changes."""
        ...


class LocalStore:
    """Circuits kept in this process: shared by every chain given the same `Health`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._circuits: dict[str, Circuit] = {}
        self._lock = threading.Lock()

    def attach(self, health: Health) -> None:
        self.clock = health.clock

    def consult(self, breaker: Breaker, step: Consult) -> Consulted:
        now = self.clock()
        with self._lock:
            changed, admission = consult(
                self._circuits, step.verdicts, step.candidates, now, breaker, force=step.force
            )
            found = transitions(self._circuits, changed, now)
            self._circuits.update(changed)
        return admission, found

    async def aconsult(self, breaker: Breaker, step: Consult) -> Consulted:
        return self.consult(breaker, step)

    def circuits(self) -> Mapping[str, Circuit]:
        with self._lock:
            return dict(self._circuits)

    def replace(self, circuits: Mapping[str, Circuit]) -> list[Transition]:
        """Take these circuits as the current ones; return the state changes that makes.

        A shared store keeps its local copy so: what it read from the shared
        store replaces what this process knew.
        """
        now = self.clock()
        with self._lock:
            found = transitions(self._circuits, circuits, now)
            self._circuits.update(circuits)
        return found


def transitions(
    before: Mapping[str, Circuit], after: Mapping[str, Circuit], at: float
) -> list[Transition]:
    """The state changes from ``before`` to ``after`` (circuits absent before were closed)."""
    found = []
    for identity, new in after.items():
        old = before.get(identity) or Circuit()
        if old.state is not new.state:
            found.append(Transition(identity, old.state, new.state, at, new.last_error))
    return found
