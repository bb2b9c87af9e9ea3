"""Fall back on a bad answer: checks judge each finished answer, streaming included."""

from __future__ import annotations

import pytest

from fallback_core import (
    BadAnswerError,
    Category,
    Chain,
    ChainExhaustedError,
    ConfigurationError,
    Hop,
    Policy,
    StreamTruncatedError,
)
from fallback_core.checks import Answer, check, no_refusal, not_empty, valid_json

from .conftest import Drive
from .scripted import Scripted, ok


def chain(*targets: Scripted, **policy: object) -> Chain[object]:
    names = ("primary", "backup", "third")
    return Chain(
        [Hop(t, name=n) for t, n in zip(targets, names, strict=False)],
        policy=Policy(**policy),  # type: ignore[arg-type]
    )


def test_an_empty_answer_moves_on_to_the_backup(drive: Drive) -> None:
    backup = Scripted(ok("Answer."))
    run = drive(chain(Scripted(ok()), backup, checks=[not_empty()]))
    assert run.text == "Answer."
    assert backup.calls[0].continuation is None
    first, second = run.trace.attempts
    assert first.category is Category.BAD_ANSWER
    assert isinstance(first.error, BadAnswerError)
    assert first.error.reason == "the answer is empty"
    assert second.outcome == "ok"


def test_a_refused_answer_moves_on_and_without_the_check_it_is_served(drive: Drive) -> None:
    refused = ok("I cannot", finish="content_filter")
    run = drive(chain(Scripted(refused), Scripted(ok(" help with that.")), checks=[no_refusal()]))
    assert run.trace.attempts[0].category is Category.BAD_ANSWER
    assert run.trace.served_by == "backup"
    assert run.text == "I cannot help with that."  # what was delivered is continued
    held = drive(chain(Scripted(refused), Scripted(ok("Help.")), checks=[no_refusal(holds=True)]))
    assert held.text == "Help."
    unchecked = drive(chain(Scripted(refused), Scripted(ok("never"))))
    assert unchecked.trace.served_by == "primary"
    assert unchecked.trace.finish_reason == "content_filter"


def test_a_held_json_answer_reaches_the_caller_only_whole_and_valid(drive: Drive) -> None:
    """The primary's half object is never delivered: the backup redoes the value whole."""
    half = ['{"city": ', '"Par', StreamTruncatedError("cut")]
    run = drive(chain(Scripted(half), Scripted(ok('{"city": ', '"Paris"}')), checks=[valid_json()]))
    assert run.text == '{"city": "Paris"}'
    assert [d.text for d in run.deltas] == ['{"city": "Paris"}']
    cut, served = run.trace.attempts
    assert cut.chars == 0
    assert served.continuation is None  # nothing was delivered, so nothing is continued


def test_invalid_json_is_a_bad_answer_and_the_last_one_ends_the_call(drive: Drive) -> None:
    run = drive(chain(Scripted(ok("not json")), Scripted(ok("{")), checks=[valid_json()]))
    assert isinstance(run.error, ChainExhaustedError)
    assert run.error.partial_text == ""
    assert run.deltas == []
    assert [a.category for a in run.trace.attempts] == [Category.BAD_ANSWER] * 2


def test_a_predicate_and_a_plain_function_are_checks(drive: Drive) -> None:
    def no_apology(answer: Answer) -> str | None:
        return "it apologised" if "sorry" in answer.text.lower() else None

    short = check(lambda a: len(a.text) >= 5, "too short", holds=True)
    run = drive(
        chain(
            Scripted(ok("Sorry, no.")),
            Scripted(ok("No")),
            Scripted(ok("Fine answer.")),
            checks=[no_apology, short],
        )
    )
    assert run.text == "Fine answer."
    reasons = [str(a.error) for a in run.trace.attempts[:2]]
    assert reasons == ["it apologised", "too short"]


def test_checks_may_be_given_for_one_call() -> None:
    hops = chain(Scripted(ok("nope")), Scripted(ok('{"ok": true}')))
    assert "".join(d.text for d in hops.stream("r")) == "nope"
    stream = hops.stream("r", checks=[valid_json()])
    assert "".join(d.text for d in stream) == '{"ok": true}'
    assert stream.trace.served_by == "backup"


def test_a_hop_without_finish_reasons_is_judged_when_its_stream_ends(drive: Drive) -> None:
    quiet = Chain(
        [
            Hop(Scripted(["not json"]), name="p", require_finish=False),
            Hop(Scripted(['{"a": 1}']), name="b", require_finish=False),
        ],
        policy=Policy(checks=[valid_json()]),
    )
    run = drive(quiet)
    assert run.text == '{"a": 1}'
    assert run.trace.attempts[0].category is Category.BAD_ANSWER


def test_a_check_that_raises_is_a_bug_in_the_check_not_a_bad_answer(drive: Drive) -> None:
    def broken(answer: Answer) -> str | None:
        raise KeyError("oops")

    backup = Scripted(ok("never"))
    run = drive(chain(Scripted(ok("x")), backup, checks=[broken]))
    assert isinstance(run.error, KeyError)
    assert backup.calls == []


def test_tool_calls_satisfy_not_empty_and_valid_json_leaves_them_alone(drive: Drive) -> None:
    from fallback_core import Delta, ToolCallChunk

    call = Delta(tool_calls=(ToolCallChunk(0, "id", "weather", '{"city": "Oslo"}'),))
    run = drive(
        chain(
            Scripted([call, Delta(finish_reason="tool_calls")]), checks=[not_empty(), valid_json()]
        )
    )
    assert run.error is None
    assert run.deltas[-1].tool_calls[0].name == "weather"


@pytest.mark.parametrize(
    ("checks", "field"),
    [("valid_json", "checks"), (not_empty(), "checks"), ([1], "checks[0]")],
)
def test_checks_that_are_not_checks_are_refused(checks: object, field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Policy(checks=checks)  # type: ignore[arg-type]
    assert caught.value.field == field
