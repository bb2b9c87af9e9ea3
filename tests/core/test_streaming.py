"""Streams that survive: whole tool calls, prefill refusals, garbage, cancellation."""

from __future__ import annotations

import asyncio
import json

import pytest

from fallback_core import (
    Category,
    Chain,
    ChainExhaustedError,
    Delta,
    Hop,
    Policy,
    ToolCallChunk,
    Usage,
)

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, Stall, cut, ok


def tool_call_parts(index: int, call_id: str, name: str, args: str) -> list[Delta]:
    """A tool call streamed OpenAI-style: id and name first, then argument fragments."""
    first = Delta(tool_calls=(ToolCallChunk(index, call_id, name, ""),))
    halves = [args[: len(args) // 2], args[len(args) // 2 :]]
    return [first, *(Delta(tool_calls=(ToolCallChunk(index, None, None, h),)) for h in halves)]


def test_tool_calls_are_delivered_whole_at_the_finish(drive: Drive) -> None:
    """Tool-call fragments are held back and delivered as complete calls when the hop finishes."""
    script = [
        "Let me check.",
        *tool_call_parts(0, "call_1", "weather", '{"city": "Paris"}'),
        *tool_call_parts(1, "call_2", "time", '{"tz": "CET"}'),
        Delta(finish_reason="tool_calls"),
    ]
    run = drive(Chain([Hop(Scripted(script), name="p")]))
    assert [d.text for d in run.deltas] == ["Let me check.", ""]
    calls = run.deltas[-1].tool_calls
    assert calls == (
        ToolCallChunk(0, "call_1", "weather", '{"city": "Paris"}'),
        ToolCallChunk(1, "call_2", "time", '{"tz": "CET"}'),
    )
    assert run.trace.finish_reason == "tool_calls"


def test_failure_inside_a_tool_call_never_delivers_half_of_it(drive: Drive) -> None:
    """A hop dying mid tool call delivers none of it; the next hop redoes the turn."""
    broken = ["Checking.", *tool_call_parts(0, "call_1", "weather", '{"city": "Paris"}')[:2]]
    primary = Scripted([*broken, ConnectionResetError()], name="p")
    backup = Scripted(
        [
            *tool_call_parts(0, "call_9", "weather", '{"city": "Rome"}'),
            Delta(finish_reason="tool_calls"),
        ],
        name="b",
    )
    run = drive(Chain([Hop(primary, name="p"), Hop(backup, name="b")]))
    delivered_calls = [c for d in run.deltas for c in d.tool_calls]
    assert delivered_calls == [ToolCallChunk(0, "call_9", "weather", '{"city": "Rome"}')]
    assert run.text == "Checking."
    assert backup.calls[0].continuation is not None
    assert backup.calls[0].continuation.text == "Checking."


def test_prefill_refusal_is_retried_with_instruct_on_the_same_hop(drive: Drive) -> None:
    """A 400 to a prefill continuation makes the same hop try instruct; the 400 never surfaces."""
    primary = Scripted(cut("The answer"), name="p")
    backup = Scripted(openai_error(400), ok(" is 42."), name="b")
    run = drive(Chain([Hop(primary, name="p"), Hop(backup, name="b", continuation="prefill")]))
    assert run.error is None
    assert run.text == "The answer is 42."
    strategies = [c.continuation.strategy for c in backup.calls if c.continuation]
    assert strategies == ["prefill", "instruct"]
    assert [(a.hop, a.category, a.continuation) for a in run.trace.attempts] == [
        ("p", Category.TRUNCATED, None),
        ("b", Category.BAD_REQUEST, "prefill"),
        ("b", None, "instruct"),
    ]


def test_bad_request_to_a_fresh_request_still_raises(drive: Drive) -> None:
    """Only a refused prefill is retried; the same 400 on the original request is the caller's."""
    error = openai_error(400)
    run = drive(Chain([Hop(Scripted(error), name="p", continuation="prefill")]))
    assert run.error is error


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param({"choices": "???"}, id="not-a-delta"),
        pytest.param(Delta(text=b"bytes"), id="text-not-str"),  # type: ignore[arg-type]
    ],
)
def test_garbage_chunk_never_reaches_the_caller(drive: Drive, garbage: object) -> None:
    """A chunk that is not a well-formed delta fails the hop; the caller sees only text."""
    primary = Scripted(["Good start", garbage, "never"], name="p")  # type: ignore[list-item]
    run = drive(Chain([Hop(primary, name="p"), Hop(Scripted(ok(" and finish.")), name="b")]))
    assert run.text == "Good start and finish."
    assert run.trace.attempts[0].category is Category.MALFORMED
    assert all(isinstance(d.text, str) for d in run.deltas)


def test_unparseable_json_from_a_client_is_a_malformed_chunk(drive: Drive) -> None:
    """A JSON decode error raised while reading a stream is classified as malformed."""
    bad = json.JSONDecodeError("Expecting value", "data: {not json", 6)
    primary = Scripted(["Half", bad], name="p")
    run = drive(Chain([Hop(primary, name="p"), Hop(Scripted(ok(" done")), name="b")]))
    assert run.text == "Half done"
    assert run.trace.attempts[0].category is Category.MALFORMED


def test_malformed_chunks_can_be_made_fatal(drive: Drive) -> None:
    """The policy decides: malformed output may raise instead of falling back."""
    policy = Policy(rules={Category.MALFORMED: "raise"})
    primary = Scripted(["Half", {"x": 1}], name="p")  # type: ignore[list-item]
    run = drive(Chain([Hop(primary, name="p"), Hop(Scripted(ok("b")), name="b")], policy=policy))
    assert run.error is not None
    assert run.text == "Half"


def test_exhausted_chain_carries_the_partial_text(drive: Drive) -> None:
    """When no hop can finish, the text already delivered rides on the error."""
    run = drive(
        Chain([Hop(Scripted(cut("Only ", "part")), name="p"), Hop(Scripted(cut()), name="b")])
    )
    assert isinstance(run.error, ChainExhaustedError)
    assert run.error.partial_text == "Only part"
    assert [a.category for a in run.error.attempts] == [Category.TRUNCATED, Category.TRUNCATED]


def test_cancelling_the_task_closes_the_hop_and_tries_no_other() -> None:
    """A cancelled consumer task stops the walk: the upstream stream is closed, no hop follows."""
    primary = Scripted(cut("first", Stall(30), "never"), name="p")
    backup = Scripted(ok("b"), name="b")
    chain = Chain([Hop(primary, name="p"), Hop(backup, name="b")])
    seen: list[str] = []

    async def main() -> None:
        first = asyncio.Event()

        async def consume() -> None:
            async for delta in chain.astream("r"):
                seen.append(delta.text)
                first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["first"]
    assert primary.closed == 1
    assert backup.calls == []


def test_stall_is_detected_within_the_timeout_plus_a_small_constant(drive: Drive) -> None:
    """An idle hop is abandoned about when its idle_timeout says, not when its stall ends."""
    primary = Scripted(cut("a", Stall(30)), name="p")
    chain = Chain([Hop(primary, name="p", idle_timeout=0.2), Hop(Scripted(ok(" b")), name="b")])
    run = drive(chain)
    assert run.text == "a b"
    assert run.trace.attempts[0].elapsed < 0.2 + 1.0


def test_usage_reported_before_a_failure_counts_and_is_traced_per_attempt(drive: Drive) -> None:
    """Input tokens a stream reported at its start count in the merged usage though it broke."""
    primary = Scripted([Delta(usage=Usage(input_tokens=12)), "Half ", ConnectionResetError()])
    backup = Scripted(ok("an answer.", usage=Usage(20, 3, 23)))
    run = drive(Chain([Hop(primary, name="p"), Hop(backup, name="b")]))

    assert run.text == "Half an answer."
    assert run.trace.usage == Usage(32, 3, 23)
    broken, finished = run.trace.to_dict()["attempts"]
    assert broken["usage"] == {"input_tokens": 12, "output_tokens": None, "total_tokens": None}
    assert finished["usage"] == {"input_tokens": 20, "output_tokens": 3, "total_tokens": 23}
