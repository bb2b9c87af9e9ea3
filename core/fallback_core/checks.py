"""Checks that judge an answer, so a bad one moves the call on like a failure.

A check sees the finished answer - its text (what the caller received from
earlier attempts included), finish reason and tool calls - and returns None
when the answer is good, else why it is not. `Policy(checks=[...])` runs them
when a hop finishes; a failed check is `Category.BAD_ANSWER` (fall back by
default), raised as `BadAnswerError`.

While streaming, a check says how much it needs held back: most need nothing
(an empty answer or a refusal is judged at the finish), while `valid_json`
needs the whole answer, so while it is on nothing reaches the caller until the
hop has finished and the answer passed - a broken half of a JSON value is never
delivered, and a backup redoes it whole.

Any function from `Answer` to a reason (or None) is a check that holds nothing;
`check(fn, why, holds=...)` makes one from a predicate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

from ._errors import ConfigurationError
from ._types import ToolCallChunk

__all__ = [
    "REFUSALS",
    "Answer",
    "AnswerCheck",
    "CheckLike",
    "as_checks",
    "check",
    "no_refusal",
    "not_empty",
    "valid_json",
]

#: Finish reasons that say the provider refused or filtered the answer (OpenAI, Anthropic).
REFUSALS = frozenset({"content_filter", "refusal"})


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished answer as a check sees it."""

    text: str
    finish_reason: str | None
    tool_calls: tuple[ToolCallChunk, ...] = ()


@runtime_checkable
class AnswerCheck(Protocol):
    """Judges an answer: None if it is good, else the reason it is not.

    ``holds`` says whether the check needs the whole answer before any of it
    may reach the caller.
    """

    @property
    def holds(self) -> bool: ...

    def __call__(self, answer: Answer) -> str | None: ...


@dataclass(frozen=True, slots=True)
class _Check:
    test: Callable[[Answer], bool]
    why: str
    holds: bool = False

    def __call__(self, answer: Answer) -> str | None:
        return None if self.test(answer) else self.why


def check(test: Callable[[Answer], bool], why: str, *, holds: bool = False) -> AnswerCheck:
    """A check from a predicate: the answer is bad, for reason ``why``, when ``test`` is false.

    ``holds=True`` keeps the answer from the caller until the check passed.
    """
    if not callable(test):
        raise ConfigurationError("check", "test is not callable", "a function Answer -> bool")
    return _Check(test, why, holds)


CheckLike: TypeAlias = AnswerCheck | Callable[[Answer], "str | None"]


@dataclass(frozen=True, slots=True)
class _Function:
    """A plain function as a check that holds nothing."""

    function: Callable[[Answer], str | None]
    holds: bool = False

    def __call__(self, answer: Answer) -> str | None:
        return self.function(answer)


def as_checks(value: Sequence[CheckLike]) -> tuple[AnswerCheck, ...]:
    """``value`` as checks (a plain function holds nothing); `ConfigurationError` if it is not."""
    if callable(value) or isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigurationError(
            "checks", f"got {type(value).__name__}", "a list of checks, e.g. [not_empty()]"
        )
    checks: list[AnswerCheck] = []
    for i, item in enumerate(value):
        if isinstance(item, AnswerCheck):
            checks.append(item)
        elif callable(item):
            checks.append(_Function(item))
        else:
            raise ConfigurationError(
                f"checks[{i}]",
                f"got {type(item).__name__}",
                "a check, or a function Answer -> str | None",
            )
    return tuple(checks)


def not_empty() -> AnswerCheck:
    """Bad: an answer with neither text (beyond whitespace) nor a tool call."""
    return _Check(lambda a: bool(a.text.strip() or a.tool_calls), "the answer is empty")


def no_refusal(*, holds: bool = False) -> AnswerCheck:
    """Bad: an answer the provider ended as refused or filtered (`REFUSALS`).

    Text streamed before the refusal has reached the caller and is continued
    by the next hop; ``holds=True`` keeps every answer back until it finished
    unrefused, so a refusal's words never reach the caller.
    """
    return _Check(
        lambda a: a.finish_reason not in REFUSALS, "the provider refused the answer", holds
    )


def valid_json() -> AnswerCheck:
    """Bad: a text answer that is not one complete JSON value; holds the answer until judged.

    An answer made only of tool calls is left alone (their arguments are the
    tool's business).
    """
    return _Check(_is_json, "the answer is not valid JSON", holds=True)


def _is_json(answer: Answer) -> bool:
    if not answer.text.strip() and answer.tool_calls:
        return True
    try:
        json.loads(answer.text)
    except ValueError:
        return False
    return True
