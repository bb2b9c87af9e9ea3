"""A telemetry hook that writes every event to a stdlib logger."""

from __future__ import annotations

import logging

from ._events import (
    ChainExhausted,
    Event,
    FallbackTriggered,
    HealthStoreChanged,
    HopEnded,
    HopStarted,
    RetryScheduled,
)

__all__ = ["LoggingHook"]


class LoggingHook:
    """Logs hops at DEBUG; retries, fallbacks, health store news at WARNING; exhaustion: ERROR."""

    def __init__(self, logger: logging.Logger | str = "fallback_core.hops") -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    def __call__(self, event: Event) -> None:
        log = self.logger
        if isinstance(event, HopStarted):
            cont = f" continuing {event.chars_carried} chars ({event.continuation})"
            log.debug(
                "%s: %s attempt %d started%s",
                event.call_id,
                event.hop,
                event.attempt,
                cont if event.continuation else "",
            )
        elif isinstance(event, HopEnded):
            log.debug(
                "%s: %s attempt %d %s%s in %.3fs, %d chars",
                event.call_id,
                event.hop,
                event.attempt,
                event.outcome,
                f" ({event.category.value})" if event.category else "",
                event.latency,
                event.chars,
            )
        elif isinstance(event, RetryScheduled):
            log.warning(
                "%s: retrying %s in %.2fs after %s",
                event.call_id,
                event.hop,
                event.delay,
                event.category.value,
            )
        elif isinstance(event, FallbackTriggered):
            log.warning(
                "%s: falling back from %s to %s after %s: %s",
                event.call_id,
                event.from_hop,
                event.to_hop,
                event.category.value,
                event.error,
            )
        elif isinstance(event, HealthStoreChanged):
            if event.available:
                log.warning("%s: shared health store answers again", event.call_id)
            else:
                log.warning(
                    "%s: shared health store lost, health kept locally: %s",
                    event.call_id,
                    event.error,
                )
        elif isinstance(event, ChainExhausted):
            log.error(
                "%s: chain exhausted (%s) after %d attempt(s)",
                event.call_id,
                event.reason,
                len(event.attempts),
            )
