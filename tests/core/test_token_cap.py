"""The caller's token cap holds across a continuation: the backup is asked only for what is left."""

from __future__ import annotations

from typing import Any

import pytest

from fallback_core import Chain, Continuation, Delta, Hop, StreamTruncatedError, Usage, capped

from .conftest import Drive
from .scripted import Scripted, ok


class Capped(Scripted):
    """A scripted target whose request caps the answer at ``cap`` tokens, as an adapter reads it."""

    def __init__(self, *scripts: Any, cap: int | None) -> None:
        super().__init__(*scripts)
        self.cap = cap

    def max_output_tokens(self, request: object) -> int | None:
        return self.cap


def two(primary: Scripted, backup: Scripted) -> Chain[object]:
    return Chain([Hop(primary, name="p"), Hop(backup, name="b")])


def cut_after(*texts: str, usage: Usage | None = None) -> list[Any]:
    head = [Delta(usage=usage)] if usage is not None else []
    return [*head, *texts, StreamTruncatedError("cut")]


def test_the_continuation_asks_for_what_is_left_of_the_cap(drive: Drive) -> None:
    """No count from the provider: the delivered text is estimated at four characters a token."""
    backup = Capped(ok(" and done."), cap=20)
    run = drive(two(Capped(cut_after("Twelve chars"), cap=20), backup))
    assert run.text == "Twelve chars and done."
    (call,) = backup.calls
    assert call.continuation is not None
    assert call.continuation.max_tokens == 20 - 3


def test_the_providers_own_count_wins_over_the_estimate(drive: Drive) -> None:
    primary = Capped(cut_after("Twelve chars", usage=Usage(output_tokens=7)), cap=20)
    backup = Capped(ok(" and done."), cap=20)
    drive(two(primary, backup))
    (call,) = backup.calls
    assert call.continuation is not None
    assert call.continuation.max_tokens == 13


def test_an_answer_that_already_fills_the_cap_ends_as_a_length_finish(drive: Drive) -> None:
    """Nothing is left to ask for: the answer ends where the provider would have ended it."""
    primary = Capped(cut_after("Twelve chars"), cap=3)
    backup = Capped(ok("never"), cap=3)
    run = drive(two(primary, backup))
    assert run.error is None
    assert run.text == "Twelve chars"
    assert backup.calls == []
    assert run.trace.finish_reason == "length"
    assert run.trace.served_by == "p"


def test_without_a_cap_the_continuation_asks_for_no_limit(drive: Drive) -> None:
    backup = Capped(ok(" and done."), cap=None)
    drive(two(Capped(cut_after("Twelve chars"), cap=None), backup))
    (call,) = backup.calls
    assert call.continuation is not None
    assert call.continuation.max_tokens is None


@pytest.mark.parametrize(
    ("options", "max_tokens", "expected"),
    [
        ({"temperature": 0}, 17, {"temperature": 0, "max_tokens": 17}),
        ({"max_completion_tokens": 40}, 17, {"max_completion_tokens": 17}),
        (
            {"max_tokens": None, "max_new_tokens": 40},
            17,
            {"max_tokens": None, "max_new_tokens": 17},
        ),
        ({"max_tokens": 40}, None, {"max_tokens": 40}),
    ],
)
def test_capped_lowers_the_cap_under_the_name_it_was_given(
    options: dict[str, Any], max_tokens: int | None, expected: dict[str, Any]
) -> None:
    cont = Continuation("text", "instruct", "go on", max_tokens)
    assert capped(options, cont) == expected
    assert capped(options, None) == options
