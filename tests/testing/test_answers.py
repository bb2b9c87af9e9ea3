"""Healthy answers: what the fault server sends when no fault strikes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fallback_core.testing import CANONICAL_ANSWER, FaultServer, ModelScript
from fallback_core.testing._answers import plan_reply, tokenise

from .conftest import HELLO, PRIMARY_ANSWER, WEATHER_CALL, WEATHER_TOOL, Driver


async def test_completion_returns_the_canonical_answer_with_usage(drive: Driver) -> None:
    """A plain request gets the model's canonical answer, the echoed model and token usage."""
    completion = await drive.create(model="primary")

    assert completion.model == "primary"
    assert completion.choices[0].message.content == PRIMARY_ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(HELLO[0]["content"].split())
    assert completion.usage.completion_tokens == len(PRIMARY_ANSWER.split())
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_stream_sends_one_chunk_per_word_then_finish_then_usage(drive: Driver) -> None:
    """A stream carries one word per chunk, a stop finish chunk, and usage last as OpenAI does."""
    seen = await drive.stream(model="primary", stream_options={"include_usage": True})

    assert seen.error is None
    contents = [c.choices[0].delta.content for c in seen.chunks if c.choices]
    assert contents[:-1] == tokenise(PRIMARY_ANSWER)
    assert seen.chunks[0].choices[0].delta.role == "assistant"
    assert seen.finish_reason == "stop"
    last = seen.chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == len(tokenise(PRIMARY_ANSWER))
    assert {c.model for c in seen.chunks} == {"primary"}


async def test_stream_without_include_usage_has_no_usage_chunk(drive: Driver) -> None:
    """Usage is only streamed when `stream_options.include_usage` asks for it."""
    seen = await drive.stream(model="primary")

    assert seen.text == PRIMARY_ANSWER
    assert all(c.choices and c.usage is None for c in seen.chunks)


async def test_every_unconfigured_model_shares_the_canonical_answer(drive: Driver) -> None:
    """Any model name is served the one shared answer, and each response names its model."""
    first = await drive.create(model="gpt-anything")
    second = await drive.create(model="another-model")

    assert first.choices[0].message.content == CANONICAL_ANSWER
    assert second.choices[0].message.content == CANONICAL_ANSWER
    assert (first.model, second.model) == ("gpt-anything", "another-model")


def test_the_canonical_answer_has_two_paragraphs_of_40_to_80_words() -> None:
    """The shared answer is a few sentences, with a paragraph break a seam can land on."""
    assert 40 <= len(CANONICAL_ANSWER.split()) <= 80
    assert "\n\n" in tokenise(CANONICAL_ANSWER)


def test_a_server_can_share_another_answer() -> None:
    """`FaultServer(answer=...)` replaces the shared answer for every unconfigured model."""
    with FaultServer(answer="Just this.") as server:
        assert server.answer_for("anyone") == server.answer_for("else") == "Just this."


async def test_tool_call_is_returned_when_tools_are_offered(drive: Driver) -> None:
    """A model scripted with a tool call makes it when the request offers tools."""
    completion = await drive.create(model="tooler", tools=[WEATHER_TOOL])
    choice = completion.choices[0]

    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == WEATHER_CALL[0]
    assert json.loads(call.function.arguments) == WEATHER_CALL[1]


async def test_streamed_tool_call_arrives_in_argument_fragments(drive: Driver) -> None:
    """A streamed tool call opens with index, id and name, then sends its arguments in pieces."""
    seen = await drive.stream(model="tooler", tools=[WEATHER_TOOL])

    calls = [c.choices[0].delta.tool_calls for c in seen.chunks if c.choices]
    fragments = [call[0] for call in calls if call]
    opening = fragments[0]
    assert (opening.index, opening.type) == (0, "function")
    assert opening.id is not None
    assert opening.id.startswith("call_")
    assert opening.function is not None
    assert (opening.function.name, opening.function.arguments) == (WEATHER_CALL[0], "")
    arguments = [f.function.arguments for f in fragments[1:] if f.function]
    assert len(arguments) > 2
    assert json.loads("".join(a or "" for a in arguments)) == WEATHER_CALL[1]
    assert seen.finish_reason == "tool_calls"


async def test_tool_result_is_answered_with_the_canonical_text(drive: Driver) -> None:
    """Once the last message is a tool result, the model answers in words."""
    messages = [
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    completion = await drive.create(model="tooler", tools=[WEATHER_TOOL], messages=messages)

    assert completion.choices[0].message.content == "It is sunny in Paris today."
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
async def test_token_limit_stops_the_answer_with_length_finish(drive: Driver, limit: str) -> None:
    """A token limit below the answer's length ends it early with finish_reason `length`."""
    completion = await drive.create(model="primary", **{limit: 4})
    seen = await drive.stream(model="primary", **{limit: 4})

    assert completion.choices[0].message.content == "The quick brown fox"
    assert completion.choices[0].finish_reason == "length"
    assert seen.text == "The quick brown fox"
    assert seen.finish_reason == "length"


async def test_stop_sequence_cuts_the_answer_before_it(drive: Driver) -> None:
    """The answer ends just before the first stop sequence it contains."""
    completion = await drive.create(model="primary", stop=[" over", "zzz"])

    assert completion.choices[0].message.content == "The quick brown fox jumps"
    assert completion.choices[0].finish_reason == "stop"


async def test_prompt_beyond_context_window_is_refused(drive: Driver) -> None:
    """A model's context window refuses prompts of more estimated tokens than it holds."""
    import openai

    short = await drive.create(model="small", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(model="small", messages=[{"role": "user", "content": "a b c d e f"}])

    assert short.choices[0].message.content == "Short."
    assert caught.value.code == "context_length_exceeded"


def test_models_endpoint_lists_the_configured_models(fault_server: FaultServer) -> None:
    """GET /v1/models lists the scripted models the way OpenAI lists its models."""
    import openai

    with openai.OpenAI(base_url=fault_server.base_url, api_key="test", max_retries=0) as client:
        names = {model.id for model in client.models.list()}

    assert {"primary", "backup", "tooler"} <= names


def test_unknown_path_gets_an_openai_style_404(fault_server: FaultServer) -> None:
    """Paths the server does not know get a 404 with an OpenAI error body."""
    response = httpx.post(f"{fault_server.base_url}/embeddings", json={})

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_malformed_request_body_gets_a_400(fault_server: FaultServer) -> None:
    """A body that is not a chat request is refused with 400, not a dropped connection."""
    url = f"{fault_server.base_url}/chat/completions"

    not_json = httpx.post(url, content=b"{oops")
    no_model = httpx.post(url, json={"messages": HELLO})

    assert (not_json.status_code, no_model.status_code) == (400, 400)
    assert no_model.json()["error"]["param"] == "model"
    assert fault_server.attempt_count() == 0


def test_scripted_tool_calls_come_one_per_turn_then_the_answer() -> None:
    """With a sequence of tool calls, each turn after n-1 tool results makes the n-th call."""
    script = ModelScript(answer="All done.", tool_calls=(("first", {"a": 1}), ("second", {"b": 2})))
    turn: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    names = []
    for _ in range(3):
        reply = plan_reply(script, turn, tools=[WEATHER_TOOL])
        if reply.tool_call is None:
            break
        names.append(reply.tool_call.name)
        turn += [{"role": "assistant", "content": None}, {"role": "tool", "content": "ok"}]
    assert names == ["first", "second"]
    assert "".join(reply.pieces) == "All done."


def test_continuation_wins_over_a_tool_call() -> None:
    """A request to continue the answer is continued even when it offers tools."""
    script = ModelScript(answer="One two three four.", tool_call=("t", {}))
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "One two"},
    ]
    reply = plan_reply(script, messages, tools=[WEATHER_TOOL])
    assert reply.tool_call is None
    assert "".join(reply.pieces) == " three four."
