"""Telemetry: frozen event records and the hook protocol.

A hook is any callable taking an `Event`. For `HopStarted` it may return a
context manager; it is entered at once and exited when that attempt ends (with
the attempt's exception, if any), so a hook can open a span around the hop. A
hook that raises never breaks the call: its first failure is logged with a
traceback, later ones at debug level.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, TypeAlias, TypeGuard

from ._classify import Category
from ._trace import AttemptRecord, ChainTrace
from ._types import CallOutcome, SeamFix, Strategy

__all__ = [
    "CallEnded",
    "CallTelemetry",
    "ChainExhausted",
    "ContinuationJoined",
    "Event",
    "FallbackTriggered",
    "HealthStoreChanged",
    "HedgeStarted",
    "Hook",
    "HookFailures",
    "HopEnded",
    "HopSkipped",
    "HopStarted",
    "RetryScheduled",
]

logger = logging.getLogger("fallback_core")


@dataclass(frozen=True, slots=True)
class HopStarted:
    """An attempt on a hop begins; ``continuation`` names the strategy if it continues text."""

    call_id: str
    hop: str
    model: str | None
    attempt: int
    continuation: Strategy | None
    chars_carried: int


@dataclass(frozen=True, slots=True)
class ContinuationJoined:
    """A continuation was joined onto the delivered text.

    ``overlap_trimmed`` characters the hop repeated were dropped; ``seam_fix``
    is the whitespace fix made at the join (None if none was needed).
    ``held_chars`` characters of the continuation were held back for
    ``held_seconds`` (from its first text) before the seam could be judged.
    """

    call_id: str
    hop: str
    strategy: Strategy
    chars_carried: int
    overlap_trimmed: int
    seam_fix: SeamFix | None
    held_chars: int = 0
    held_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class HopEnded(AttemptRecord):
    """Attempt over: the attempt's `AttemptRecord`, told to the hooks of call ``call_id``.

    ``outcome`` is ``"ok"``, ``"failed"``, ``"cancelled"`` or ``"hedge_lost"``;
    the record is the one the call's `ChainTrace` keeps for this attempt.
    """

    call_id: str = field(kw_only=True)

    @classmethod
    def of(cls, call_id: str, record: AttemptRecord) -> HopEnded:
        """The end of the attempt ``record`` describes, in call ``call_id``."""
        return cls(**{f.name: getattr(record, f.name) for f in fields(record)}, call_id=call_id)

    @property
    def latency(self) -> float:
        """Seconds the attempt took (its ``elapsed``)."""
        return self.elapsed


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """The same hop will be tried again after ``delay`` seconds."""

    call_id: str
    hop: str
    model: str | None
    attempt: int
    delay: float
    category: Category
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class FallbackTriggered:
    """The walk moves from one hop to another because of ``category``."""

    call_id: str
    from_hop: str
    to_hop: str
    category: Category
    error: BaseException


@dataclass(frozen=True, slots=True)
class HedgeStarted:
    """``hop`` produced no text within ``after`` seconds, so ``rival`` was started beside it.

    The first to produce text wins; the other ends with outcome ``"hedge_lost"``.
    """

    call_id: str
    hop: str
    rival: str
    after: float | None


@dataclass(frozen=True, slots=True)
class HopSkipped:
    """``hop`` was not called: its circuit is open (``reopens_in`` seconds until a probe)."""

    call_id: str
    hop: str
    reason: str
    reopens_in: float


@dataclass(frozen=True, slots=True)
class HealthStoreChanged:
    """A shared health store was lost (``available`` False, with ``error``) or found again.

    While it is lost, circuits are kept in this process and calls go on; what
    they learn is handed to the store when it is back.
    """

    call_id: str
    available: bool
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class ChainExhausted:
    """No hop finished the answer; the call raises."""

    call_id: str
    reason: str
    attempts: tuple[AttemptRecord, ...]
    partial_chars: int


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over - always its last event, sent exactly once.

    ``outcome`` is ``"ok"`` (an answer finished), ``"failed"`` (the call raised
    ``error``) or ``"cancelled"`` (the caller stopped listening; ``error`` is
    what interrupted it, if anything did). ``trace`` summarises the call.
    """

    call_id: str
    outcome: CallOutcome
    error: BaseException | None
    trace: ChainTrace


Event: TypeAlias = (
    HopStarted
    | ContinuationJoined
    | HopEnded
    | RetryScheduled
    | FallbackTriggered
    | HedgeStarted
    | HopSkipped
    | HealthStoreChanged
    | ChainExhausted
    | CallEnded
)


class Hook(Protocol):
    """Receives every event; may return a context manager for `HopStarted`."""

    def __call__(self, event: Event, /) -> AbstractContextManager[Any] | None: ...


class HookFailures:
    """Remembers which hooks have failed, so each is logged with a traceback once."""

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._lock = threading.Lock()

    def report(self, hook: object, what: str) -> None:
        with self._lock:
            first = id(hook) not in self._seen
            self._seen.add(id(hook))
        if first:
            logger.exception("fallback_core: telemetry hook %r failed in %s", hook, what)
        else:
            logger.debug("fallback_core: telemetry hook %r failed again in %s", hook, what)


_Attempt = tuple[str, int]  # a hop's name and its attempt number: one attempt of a call


class CallTelemetry:
    """Dispatches one call's events to the hooks and keeps each attempt's open scopes.

    A hook's scope for an attempt opens at its `HopStarted` and exits, with that
    attempt's error, once that attempt has ended - not when another one does
    (a hedge's loser ends while the winner still streams). Scopes exit in the
    reverse order of their opening, so one that ends under a later attempt's
    open scope waits for that one to exit first.
    """

    __slots__ = ("_ended", "_failures", "_hooks", "_scopes")

    def __init__(self, hooks: Sequence[Hook], failures: HookFailures) -> None:
        self._hooks = hooks
        self._failures = failures
        self._scopes: list[tuple[_Attempt, Hook, AbstractContextManager[Any]]] = []
        self._ended: dict[_Attempt, BaseException | None] = {}

    def emit(self, events: Sequence[Event]) -> None:
        if not self._hooks:
            return
        for event in events:
            for hook in self._hooks:
                try:
                    result = hook(event)
                except Exception:
                    self._failures.report(hook, type(event).__name__)
                    continue
                if isinstance(event, HopStarted) and _is_context_manager(result):
                    self._enter((event.hop, event.attempt), hook, result)
            if isinstance(event, HopEnded):
                self._ended[event.hop, event.attempt] = event.error
                self._exit_ended()

    def close(self) -> None:
        """Exit every scope still open (the call is over), innermost first."""
        while self._scopes:
            attempt, hook, scope = self._scopes.pop()
            self._exit(hook, scope, self._ended.get(attempt))
        self._ended.clear()

    def _exit_ended(self) -> None:
        while self._scopes and self._scopes[-1][0] in self._ended:
            attempt, hook, scope = self._scopes.pop()
            self._exit(hook, scope, self._ended[attempt])
        open_attempts = {attempt for attempt, _, _ in self._scopes}
        for attempt in [a for a in self._ended if a not in open_attempts]:
            del self._ended[attempt]

    def _enter(self, attempt: _Attempt, hook: Hook, scope: AbstractContextManager[Any]) -> None:
        try:
            scope.__enter__()
        except Exception:
            self._failures.report(hook, "scope enter")
        else:
            self._scopes.append((attempt, hook, scope))

    def _exit(
        self, hook: Hook, scope: AbstractContextManager[Any], error: BaseException | None
    ) -> None:
        exc_info = (type(error), error, error.__traceback__) if error else (None, None, None)
        try:
            scope.__exit__(*exc_info)
        except Exception:
            self._failures.report(hook, "scope exit")


def _is_context_manager(value: object) -> TypeGuard[AbstractContextManager[Any]]:
    return hasattr(value, "__enter__") and hasattr(value, "__exit__")
