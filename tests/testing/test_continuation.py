"""Continuation requests: a model asked to go on from a partial answer sends the rest."""

from __future__ import annotations

from typing import Any

import pytest

from fallback_core.testing import FaultServer

from .conftest import HELLO, PRIMARY_ANSWER, Driver

GIVEN = "The quick brown fox jumps"  # the first five words of PRIMARY_ANSWER
REST = PRIMARY_ANSWER[len(GIVEN) :]  # " over the lazy dog ..."


def prefill(given: str = GIVEN) -> list[dict[str, Any]]:
    """A request ending with the partial answer as an assistant message."""
    return [*HELLO, {"role": "assistant", "content": given}]


def continue_instruction(given: str = GIVEN) -> list[dict[str, Any]]:
    """A request with the partial answer followed by a user's "continue" instruction."""
    return [*prefill(given), {"role": "user", "content": "Continue exactly where you stopped."}]


@pytest.mark.parametrize("shape", [prefill, continue_instruction])
async def test_continuation_is_answered_with_the_rest(
    drive: Driver, fault_server: FaultServer, shape: Any
) -> None:
    """A prefill or a continue instruction after a prefix of the answer gets only the rest."""
    completion = await drive.create(model="primary", messages=shape())
    seen = await drive.stream(model="primary", messages=shape())

    assert completion.choices[0].message.content == REST
    assert GIVEN + seen.text == PRIMARY_ANSWER
    assert [a.continuation for a in fault_server.attempts("primary")] == [True, True]


async def test_prefix_matching_ignores_trailing_whitespace(drive: Driver) -> None:
    """A partial answer with stray trailing whitespace still counts as a prefix."""
    completion = await drive.create(model="primary", messages=prefill(GIVEN + " \n"))

    assert completion.choices[0].message.content == REST


async def test_prefix_ending_mid_word_continues_mid_word(drive: Driver) -> None:
    """A partial answer cut inside a word is continued from the rest of that word."""
    completion = await drive.create(model="primary", messages=prefill("The quick br"))

    assert (completion.choices[0].message.content or "").startswith("own fox jumps")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("repeater", " brown fox jumps" + REST),
        ("gluer", REST.lstrip()),
        ("botcher", "fox jumps" + REST),
    ],
)
async def test_scripted_seam_faults_shape_the_continuation(
    drive: Driver, model: str, expected: str
) -> None:
    """`repeat_words` repeats the last words given and `drop_seam_space` glues the seam."""
    completion = await drive.create(model=model, messages=continue_instruction())
    seen = await drive.stream(model=model, messages=prefill())

    assert completion.choices[0].message.content == expected
    assert seen.text == expected


async def test_unmatched_prefix_gets_the_whole_answer(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A partial answer that is not a prefix of the canonical one is answered from the start."""
    completion = await drive.create(model="primary", messages=prefill("A slow green turtle"))

    assert completion.choices[0].message.content == PRIMARY_ANSWER
    assert fault_server.attempts("primary")[0].continuation is False


async def test_finished_answer_in_history_is_an_earlier_turn(drive: Driver) -> None:
    """A complete earlier answer followed by a new question is answered afresh, not continued."""
    messages = [*continue_instruction(PRIMARY_ANSWER)]

    completion = await drive.create(model="primary", messages=messages)

    assert completion.choices[0].message.content == PRIMARY_ANSWER


async def test_continuation_respects_max_tokens(drive: Driver) -> None:
    """The token limit counts the continuation's own tokens."""
    completion = await drive.create(model="primary", messages=prefill(), max_tokens=2)

    assert completion.choices[0].message.content == " over the"
    assert completion.choices[0].finish_reason == "length"
