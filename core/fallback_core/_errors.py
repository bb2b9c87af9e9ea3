"""Every exception fallback-chain raises, in one tree.

    FallbackError                      root: catch this to catch anything of ours
    ├── ConfigurationError (ValueError)  a chain, hop or policy built with bad input
    ├── ChainExhaustedError            every hop was tried (or the budget ran out);
    │   │                              an ExceptionGroup of the attempts' errors
    │   └── DeadlineExceededError      ... because the call's total deadline passed
    ├── HopBugError                    a hop failed with a programming error before its
    │                                  request went out (Category.BUG); raised, not failed over
    └── HopFailure                     why one attempt on one hop failed (classified,
        │                              then retried or handed to the next hop)
        ├── StreamTruncatedError       the stream ended without its finish signal
        ├── StreamTimeoutError         no chunk within first_token_timeout / idle_timeout
        │                              or the attempt's own timeout
        ├── MalformedChunkError        the hop produced a chunk its client could not parse
        └── SeamError                  a continuation started the answer over, or added nothing

Context rides on attributes (``attempts``, ``partial_text``, ``field``), never
inside the message alone. Errors raised by providers (openai, anthropic, httpx)
are never wrapped on the way through: a hop failure the policy says to raise is
raised as the provider raised it. The one wrapper is `HopBugError`, whose
``__cause__`` is the programming error itself: it names the hop and the
packages the error came through, which the bare ``TypeError`` cannot.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from ._trace import AttemptRecord
    from ._types import TimeoutPhase

__all__ = [
    "BadAnswerError",
    "ChainExhaustedError",
    "ConfigurationError",
    "DeadlineExceededError",
    "FallbackError",
    "HopBugError",
    "HopFailure",
    "MalformedChunkError",
    "SeamError",
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


class _AttemptErrors(FallbackError, ExceptionGroup[Exception]):
    """The exhausted chain is an exception group of its attempts' errors."""

    def __init__(self, *_: object, **__: object) -> None:
        # ChainExhaustedError.__new__ built the group (BaseException.__init__ would refuse
        # its keywords). Defined here, below it in the MRO, so that type checkers take the
        # call's signature from __new__.
        super().__init__(self.message, self.exceptions)


class ChainExhaustedError(_AttemptErrors):
    """No hop produced a complete answer.

    ``attempts`` holds one record per attempt (hop, model, error category,
    exception, elapsed). ``partial_text`` is the text already delivered to the
    caller before the chain ran out; it is never presented as a complete answer.

    It is also an ``ExceptionGroup`` of the attempts' errors
    (``exceptions``), so ``except* openai.RateLimitError`` handles the rate
    limits among them and whatever remains is still a `ChainExhaustedError`.
    A call that ended before any attempt failed (a deadline already passed,
    every hop skipped) groups one `FallbackError` stating the reason.
    """

    attempts: tuple[AttemptRecord, ...]
    partial_text: str
    reason: str

    def __new__(
        cls,
        attempts: Sequence[AttemptRecord],
        *,
        partial_text: str = "",
        reason: str = "every hop failed",
    ) -> Self:
        attempts = tuple(attempts)
        self = super().__new__(
            cls, _describe(attempts, partial_text, reason), _errors_of(attempts, reason)
        )
        self.attempts = attempts
        self.partial_text = partial_text
        self.reason = reason
        return self

    def __str__(self) -> str:
        return self.message

    def derive(self, excs: Sequence[Exception]) -> ChainExhaustedError:  # type: ignore[override]
        """The same failure narrowed to the attempts whose errors are ``excs`` (for ``except*``)."""
        kept = {id(e) for e in excs}
        attempts = [a for a in self.attempts if id(a.error) in kept]
        return type(self)(attempts, partial_text=self.partial_text, reason=self.reason)

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild = functools.partial(type(self), partial_text=self.partial_text, reason=self.reason)
        return rebuild, (self.attempts,)


def _describe(attempts: tuple[AttemptRecord, ...], partial_text: str, reason: str) -> str:
    lines = [f"{reason} ({len(attempts)} attempt(s)):"]
    lines += [f"  {i}. {a.describe()}" for i, a in enumerate(attempts, 1)]
    if partial_text:
        lines.append(f"  {len(partial_text)} characters were delivered before the failure")
    return "\n".join(lines)


def _errors_of(attempts: tuple[AttemptRecord, ...], reason: str) -> tuple[Exception, ...]:
    errors = tuple(a.error for a in attempts if isinstance(a.error, Exception))
    return errors or (FallbackError(reason),)


class DeadlineExceededError(ChainExhaustedError):
    """The call's total deadline passed before a hop finished the answer."""


class HopBugError(FallbackError):
    """A hop failed with a programming error before its request went out.

    A ``TypeError``, ``AttributeError``, ``NameError``, ``ImportError`` (and
    kin) raised before any request was sent says the code calling the model is
    broken - an integration that does not work with the installed SDK, a bug in
    the caller's code - not that the provider failed. Moving on to the next hop
    would hide it, and the same hop would fail on every call, so the chain
    raises this instead (``Policy(rules={Category.BUG: "fallback"})`` moves on).

    ``hop`` names the hop, ``error`` is the original exception (also
    ``__cause__``), ``packages`` the installed distributions its traceback
    passed through (``"anthropic 2.16.0"``), innermost first, and ``module``
    the module that raised it.
    """

    def __init__(
        self, hop: str, error: BaseException, packages: Sequence[str], module: str | None
    ) -> None:
        self.hop = hop
        self.error = error
        self.packages = tuple(packages)
        self.module = module
        where = f" in {module}" if module else ""
        via = f" (packages involved: {', '.join(self.packages)})" if self.packages else ""
        super().__init__(
            f"hop {hop!r} failed with a programming error before its request was sent: "
            f"{type(error).__name__}{where}: {error}{via}. Not failed over, as every call "
            "would fail the same way; Policy(rules={Category.BUG: 'fallback'}) moves on instead"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.hop, self.error, self.packages, self.module)


class HopFailure(FallbackError):
    """Why one attempt on one hop failed, when the hop itself raised nothing.

    The engine raises these inside an attempt and classifies them like any
    provider error; callers see them only inside ``ChainExhaustedError.attempts``.
    """


class StreamTruncatedError(HopFailure):
    """The hop's stream ended without a finish reason: the answer is incomplete."""


class BadAnswerError(HopFailure):
    """The hop finished, but a check of `Policy.checks` judged its answer bad.

    ``reason`` is what the check said.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StreamTimeoutError(HopFailure, TimeoutError):
    """The hop went quiet: no chunk within the allowed time.

    ``phase`` is ``"first_token"``, ``"idle"``, ``"attempt"``, ``"deadline"`` or
    ``"deadline_share"`` (see `TimeoutPhase`);
    ``limit`` is the timeout that was exceeded, in seconds.
    """

    def __init__(self, phase: TimeoutPhase, limit: float) -> None:
        self.phase = phase
        self.limit = limit
        super().__init__(f"no chunk within {limit:g}s ({phase} timeout)")


class MalformedChunkError(HopFailure):
    """The hop produced a chunk that could not be understood."""


class SeamError(HopFailure):
    """A continuation did not continue the answer, so none of it was delivered.

    ``reason`` is ``"restart"`` (the hop began the answer again in other
    words) or ``"empty"`` (it finished without adding anything).
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.reason, str(self))
