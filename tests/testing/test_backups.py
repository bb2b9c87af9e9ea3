"""Backup behaviours: what a model does with a request to continue, as real backups do."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from fallback_core.testing import Backup, FaultServer, parse_backup
from fallback_core.testing._backups import PREFACE, REWORDING

from .conftest import HELLO, PRIMARY_ANSWER, Driver

GIVEN = "The quick brown fox jumps"
REST = PRIMARY_ANSWER[len(GIVEN) :]  # " over the lazy dog ..."
INSTRUCTION = {"role": "user", "content": "Continue exactly where you stopped."}


def prefill(given: str = GIVEN) -> list[dict[str, Any]]:
    return [*HELLO, {"role": "assistant", "content": given}]


def instruct(given: str = GIVEN) -> list[dict[str, Any]]:
    return [*prefill(given), INSTRUCTION]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("obey", REST),
        ("restart", PRIMARY_ANSWER),
        ("preface", PREFACE + PRIMARY_ANSWER),
        ("reword", "The quick brown" + REWORDING + PRIMARY_ANSWER[len("The quick brown") :]),
        ("overlap", " brown fox jumps" + REST),
        ("overlap=1", " jumps" + REST),
        ("empty", ""),
    ],
)
@pytest.mark.parametrize("shape", [prefill, instruct])
async def test_each_behaviour_answers_a_continuation_as_named(
    drive: Driver, fault_server: FaultServer, spec: str, expected: str, shape: Any
) -> None:
    """An `X-Backup` header picks what the model makes of the request, streamed or not."""
    headers = {"X-Backup": spec}
    completion = await drive.create(model="primary", messages=shape(), extra_headers=headers)
    seen = await drive.stream(model="primary", messages=shape(), extra_headers=headers)

    assert completion.choices[0].message.content == expected
    assert (seen.text, seen.finish_reason) == (expected, "stop")
    records = fault_server.attempts("primary")
    name = str(parse_backup(spec))  # "overlap" is logged as "overlap=3"
    assert [(r.continuation, r.backup, r.given) for r in records] == [(True, name, GIVEN)] * 2


async def test_overlap_sentence_repeats_the_sentence_cut_short(drive: Driver) -> None:
    """`overlap=sentence` starts the continuation at the start of the sentence it was cut in."""
    answer = "One sentence here. Another one follows, then the end."
    with FaultServer(answer=answer) as server:
        local = Driver(drive.kind, server.base_url)
        try:
            messages = instruct("One sentence here. Another one")
            headers = {"X-Backup": "overlap=sentence"}
            completion = await local.create(model="m", messages=messages, extra_headers=headers)
        finally:
            await local.aclose()
    assert completion.choices[0].message.content == " Another one follows, then the end."


async def test_strip_writes_again_the_whitespace_the_prefill_ended_with(drive: Driver) -> None:
    """A provider that strips a prefill continues after the last word: the break comes again."""
    answer = "First paragraph.\n\nSecond paragraph."
    with FaultServer(answer=answer, backups={"m": Backup.strip()}) as server:
        local = Driver(drive.kind, server.base_url)
        try:
            stripped = await local.create(model="m", messages=prefill("First paragraph.\n\n"))
            headers = {"X-Backup": "obey"}
            exact = await local.create(
                model="m", messages=prefill("First paragraph.\n\n"), extra_headers=headers
            )
        finally:
            await local.aclose()
    assert stripped.choices[0].message.content == "\n\nSecond paragraph."
    assert exact.choices[0].message.content == "Second paragraph."


async def test_set_backup_applies_per_model_and_a_header_overrides_it(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A model's behaviour holds until cleared; a request's header wins over it."""
    fault_server.set_backup("primary", Backup.restart())
    restarted = await drive.create(model="primary", messages=instruct())
    obeyed = await drive.create(
        model="primary", messages=instruct(), extra_headers={"X-Backup": "obey"}
    )
    other = await drive.create(model="backup", messages=instruct())
    fault_server.set_backup("primary", None)
    healed = await drive.create(model="primary", messages=instruct())

    assert restarted.choices[0].message.content == PRIMARY_ANSWER
    assert obeyed.choices[0].message.content == REST
    assert other.choices[0].message.content != PRIMARY_ANSWER  # the backup model is unaffected
    assert healed.choices[0].message.content == REST


async def test_a_fresh_question_is_answered_whatever_the_behaviour(drive: Driver) -> None:
    """Behaviours only change continuations: a plain request gets the answer."""
    completion = await drive.create(model="primary", extra_headers={"X-Backup": "empty"})

    assert completion.choices[0].message.content == PRIMARY_ANSWER


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, PRIMARY_ANSWER),  # a final assistant message is a finished turn: it starts over
        ({"continue_final_message": True, "add_generation_prompt": False}, REST),
    ],
)
async def test_vllm_continues_a_prefill_only_when_flagged(
    drive: Driver, flags: dict[str, bool], expected: str
) -> None:
    """Like vLLM, the model continues a final assistant message only with its two options."""
    headers = {"X-Backup": "vllm"}
    completion = await drive.create(
        model="primary", messages=prefill(), extra_headers=headers, extra_body=flags
    )
    instructed = await drive.create(model="primary", messages=instruct(), extra_headers=headers)

    assert completion.choices[0].message.content == expected
    assert instructed.choices[0].message.content == REST


async def test_vllm_refuses_both_options_at_once(drive: Driver) -> None:
    """continue_final_message with add_generation_prompt left true is a 400, as vLLM says."""
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(
            model="primary",
            messages=prefill(),
            extra_headers={"X-Backup": "vllm"},
            extra_body={"continue_final_message": True},
        )
    assert "continue_final_message" in str(caught.value)


async def test_a_bad_backup_header_is_refused(drive: Driver) -> None:
    """An unknown behaviour in the header is a 400 naming the header."""
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(model="primary", extra_headers={"X-Backup": "rewind"})
    assert "x-backup" in str(caught.value).lower()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("obey", Backup.obey()),
        (" restart ", Backup.restart()),
        ("overlap", Backup.overlap(3)),
        ("overlap=5", Backup.overlap(5)),
        ("overlap=sentence", Backup.overlap(None)),
        ("vllm", Backup.vllm()),
    ],
)
def test_parse_backup_reads_the_text_form(spec: str, expected: Backup) -> None:
    """The header and command-line form reads back into the same behaviour."""
    assert parse_backup(spec) == expected
    assert parse_backup(str(expected)) == expected


@pytest.mark.parametrize("spec", ["rewind", "restart=2", "overlap=lots", "overlap=0", ""])
def test_parse_backup_rejects_what_is_not_a_behaviour(spec: str) -> None:
    """A misspelt behaviour or a bad argument is a ValueError naming the problem."""
    with pytest.raises(ValueError, match=r"backup behaviour|argument|overlap"):
        parse_backup(spec)


def test_set_backup_takes_only_a_backup(fault_server: FaultServer) -> None:
    """Passing the text form where a Backup is expected is a TypeError."""
    with pytest.raises(TypeError, match="Backup"):
        fault_server.set_backup("primary", "restart")  # type: ignore[arg-type]


def test_the_command_line_refuses_a_bad_backup() -> None:
    """`serve --backup` checks the behaviour before serving."""
    done = subprocess.run(
        [sys.executable, "-m", "fallback_core.testing", "serve", "--backup", "b=rewind"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown backup behaviour 'rewind'" in done.stderr
