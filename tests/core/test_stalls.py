"""A hop that goes quiet is abandoned within its timeout and the next hop takes over."""

from __future__ import annotations

from fallback_core import Category, Chain, Hop, Policy, StreamTimeoutError

from .conftest import Drive
from .scripted import Scripted, Stall, cut, ok


def test_no_first_token_within_first_token_timeout_moves_on(drive: Drive) -> None:
    """A hop silent past first_token_timeout is abandoned; the backup answers from scratch."""
    primary = Scripted([Stall(10), "late"], name="p")
    backup = Scripted(ok("fresh"), name="b")
    built = Chain([Hop(primary, name="p", first_token_timeout=0.05), Hop(backup, name="b")])
    run = drive(built)
    assert run.text == "fresh"
    attempt = run.trace.attempts[0]
    assert attempt.category is Category.TIMEOUT
    assert isinstance(attempt.error, StreamTimeoutError)
    assert (attempt.error.phase, attempt.error.limit) == ("first_token", 0.05)
    assert backup.calls[0].continuation is None


def test_stall_mid_answer_is_continued_after_idle_timeout(drive: Drive) -> None:
    """A hop that stalls between chunks is abandoned after idle_timeout and its text continued."""
    primary = Scripted(cut("Half", " an answer", Stall(10), " never"), name="p")
    backup = Scripted(ok(" and the rest"), name="b")
    built = Chain([Hop(primary, name="p", idle_timeout=0.05), Hop(backup, name="b")])
    run = drive(built)
    assert run.text == "Half an answer and the rest"
    error = run.trace.attempts[0].error
    assert isinstance(error, StreamTimeoutError)
    assert error.phase == "idle"
    assert backup.calls[0].continuation is not None
    assert backup.calls[0].continuation.text == "Half an answer"


def test_attempt_timeout_bounds_a_slow_trickle(drive: Drive) -> None:
    """A hop that keeps sending but never finishes is cut off by its attempt timeout."""
    trickle = ["x", Stall(0.02)] * 50
    primary = Scripted(trickle, name="p")
    built = Chain(
        [Hop(primary, name="p", timeout=0.1, idle_timeout=1), Hop(Scripted(ok("!")), name="b")],
        policy=Policy(),
    )
    run = drive(built)
    assert run.error is None
    error = run.trace.attempts[0].error
    assert isinstance(error, StreamTimeoutError)
    assert error.phase == "attempt"
    assert run.text.endswith("!")
    assert 0 < run.text.count("x") < 50
