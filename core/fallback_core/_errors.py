"""Every exception fallback-chain raises, in one tree.

    FallbackError                      root: catch this to catch anything of ours
    ├── ConfigurationError (ValueError)  a chain, hop or policy built with bad input
    ├── ChainExhaustedError            every hop was tried (or the budget ran out)
    │   └── DeadlineExceededError      ... because the call's total deadline passed
    └── HopFailure                     why one attempt on one hop failed (classified,
        │                              then retried or handed to the next hop)
        ├── StreamTruncatedError       the stream ended without its finish signal
        ├── StreamTimeoutError         no chunk within first_token_timeout / idle_timeout
        │                              or the attempt's own timeout
        └── MalformedChunkError        the hop produced a chunk its client could not parse

Context rides on attributes (``attempts``, ``partial_text``, ``field``), never
inside the message alone. Errors raised by providers (openai, anthropic, httpx)
are never wrapped on the way through: a hop failure the policy says to raise is
raised as the provider raised it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._trace import AttemptRecord

__all__ = [
    "ChainExhaustedError",
    "ConfigurationError",
    "DeadlineExceededError",
    "FallbackError",
    "HopFailure",
    "MalformedChunkError",
    "StreamTimeoutError",
    "StreamTruncatedError",
]


class FallbackError(Exception):
    """Root of every error fallback-chain raises."""


class ConfigurationError(FallbackError, ValueError):
    """A chain, hop or policy was built with input it cannot use.

    ``field`` names the offending field (e.g. ``hops[1].idle_timeout``).
    """

    def __init__(self, field: str, problem: str, expected: str) -> None:
        self.field = field
        self.problem = problem
        self.expected = expected
        self.suggestions: tuple[str, ...] = ()
        """For an unknown name: the closest valid names, best first."""
        super().__init__(f"{field}: {problem}; expected {expected}")

    @classmethod
    def unknown(
        cls, field: str, name: str, valid: Iterable[str], kind: str = "option", otherwise: str = ""
    ) -> ConfigurationError:
        """``name`` is not one of ``valid``: the error suggests the closest valid names.

        ``otherwise`` is said instead when no valid name is close.
        """
        names = sorted(set(valid))
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        if close:
            hint = f" (did you mean {' or '.join(map(repr, close))}?)"
        else:
            hint = f" ({otherwise})" if otherwise else ""
        error = cls(field, f"unknown {kind} {name!r}{hint}", f"one of: {', '.join(names)}")
        error.suggestions = tuple(close)
        return error


class ChainExhaustedError(FallbackError):
    """No hop produced a complete answer.

    ``attempts`` holds one record per attempt (hop, model, error category,
    exception, elapsed). ``partial_text`` is the text already delivered to the
    caller before the chain ran out; it is never presented as a complete answer.
    """

    def __init__(
        self,
        attempts: Sequence[AttemptRecord],
        *,
        partial_text: str = "",
        reason: str = "every hop failed",
    ) -> None:
        self.attempts = tuple(attempts)
        self.partial_text = partial_text
        self.reason = reason
        lines = [f"{reason} ({len(self.attempts)} attempt(s)):"]
        lines += [f"  {i}. {a.describe()}" for i, a in enumerate(self.attempts, 1)]
        if partial_text:
            lines.append(f"  {len(partial_text)} characters were delivered before the failure")
        super().__init__("\n".join(lines))


class DeadlineExceededError(ChainExhaustedError):
    """The call's total deadline passed before a hop finished the answer."""


class HopFailure(FallbackError):
    """Why one attempt on one hop failed, when the hop itself raised nothing.

    The engine raises these inside an attempt and classifies them like any
    provider error; callers see them only inside ``ChainExhaustedError.attempts``.
    """


class StreamTruncatedError(HopFailure):
    """The hop's stream ended without a finish reason: the answer is incomplete."""


class StreamTimeoutError(HopFailure, TimeoutError):
    """The hop went quiet: no chunk within the allowed time.

    ``phase`` is ``"first_token"``, ``"idle"``, ``"attempt"`` or ``"deadline"``;
    ``limit`` is the timeout that was exceeded, in seconds.
    """

    def __init__(self, phase: str, limit: float) -> None:
        self.phase = phase
        self.limit = limit
        super().__init__(f"no chunk within {limit:g}s ({phase} timeout)")


class MalformedChunkError(HopFailure):
    """The hop produced a chunk that could not be understood."""
