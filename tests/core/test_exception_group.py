"""`ChainExhaustedError` as an exception group of its attempts' errors.

Python 3.11+ only (``except*``): tests/core/conftest.py leaves it out before 3.11.
"""

from __future__ import annotations

import pickle

import openai
import pytest

from fallback_core import (
    ChainExhaustedError,
    DeadlineExceededError,
    FallbackError,
    Hop,
    StreamTruncatedError,
)

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, cut
from .test_walk import chain


def exhausted(drive: Drive) -> ChainExhaustedError:
    """A call rate limited on its primary, cut on its backup, refused by the third hop."""
    limited = Scripted(openai_error(429), name="p")
    broken = Scripted(cut("Half an"), name="b")
    down = Scripted(ConnectionRefusedError("third down"), name="c")
    run = drive(chain(Hop(limited, name="p", max_attempts=1), broken, down))
    assert isinstance(run.error, ChainExhaustedError)
    return run.error


def test_exhausted_chain_groups_every_attempts_error(drive: Drive) -> None:
    """The group holds each failed attempt's own exception, in order, beside its records."""
    error = exhausted(drive)

    assert isinstance(error, ExceptionGroup)
    assert [type(e) for e in error.exceptions] == [
        openai.RateLimitError,
        StreamTruncatedError,
        ConnectionRefusedError,
    ]
    assert list(error.exceptions) == [a.error for a in error.attempts]
    assert str(error).startswith("every hop failed (3 attempt(s)):")


def handle_rate_limits(error: ChainExhaustedError, handled: list[BaseException]) -> None:
    """Raise ``error`` and take its rate limits with ``except*``, as a caller would."""
    try:
        raise error
    except* openai.RateLimitError as limits:
        handled.append(limits)


def test_except_star_takes_one_kind_and_leaves_a_chain_error(drive: Drive) -> None:
    """``except*`` takes the rate limits; the rest is still a ChainExhaustedError with its text."""
    error = exhausted(drive)
    handled: list[BaseException] = []

    with pytest.raises(ChainExhaustedError) as rest:
        handle_rate_limits(error, handled)

    [limits] = handled
    assert isinstance(limits, ChainExhaustedError)
    assert [type(e) for e in limits.exceptions] == [openai.RateLimitError]
    assert [a.hop for a in limits.attempts] == ["p"]
    assert [a.hop for a in rest.value.attempts] == ["b", "c"]
    assert rest.value.partial_text == "Half an"
    assert [type(e) for e in rest.value.exceptions] == [
        StreamTruncatedError,
        ConnectionRefusedError,
    ]


def test_a_call_that_failed_no_attempt_groups_its_reason() -> None:
    """With no failed attempt to group, the group holds one error stating why the call ended."""
    error = DeadlineExceededError([], reason="the call's deadline passed")

    [only] = error.exceptions
    assert type(only) is FallbackError
    assert str(only) == "the call's deadline passed"
    assert str(error) == "the call's deadline passed (0 attempt(s)):"


def test_exhausted_chain_survives_pickling(drive: Drive) -> None:
    """A worker process can send the error back: records, reason and partial text survive."""
    first = Scripted(cut("Half"), ConnectionResetError("reset"), name="p")
    run = drive(chain(Hop(first, name="p", max_attempts=2)))
    assert isinstance(run.error, ChainExhaustedError)

    copy = pickle.loads(pickle.dumps(run.error))

    assert type(copy) is type(run.error)
    assert str(copy) == str(run.error)
    assert copy.partial_text == "Half"
    assert [type(e) for e in copy.exceptions] == [type(e) for e in run.error.exceptions]
