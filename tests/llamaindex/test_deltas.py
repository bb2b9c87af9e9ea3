"""A hop's cumulative LlamaIndex stream read as deltas: text, finish, usage, tool calls."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    TextBlock,
    ToolCallBlock,
)

from fallback_core import Chain, Delta, Hop, ToolCallChunk, Usage
from llamaindex_fallback._deltas import DeltaReader, finish_reason_of, usage_of


def chunk(text: str, delta: str | None, raw: Any = None, *calls: ToolCallBlock) -> ChatResponse:
    blocks: list[Any] = [TextBlock(text=text), *calls]
    return ChatResponse(message=ChatMessage(role="assistant", blocks=blocks), delta=delta, raw=raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"choices": [{"finish_reason": "stop"}]}, "stop"),
        (SimpleNamespace(choices=[SimpleNamespace(finish_reason="length")]), "length"),
        ({"choices": []}, None),
        ({"choices": [{"finish_reason": None}]}, None),
        (
            SimpleNamespace(type="message_delta", delta=SimpleNamespace(stop_reason="end_turn")),
            "end_turn",
        ),
        ({"stop_reason": "max_tokens"}, "max_tokens"),
        ({"done": True, "done_reason": "stop"}, "stop"),
        (None, None),
    ],
    ids=[
        "openai-dict",
        "openai-object",
        "usage-chunk",
        "mid-stream",
        "anthropic",
        "top-level",
        "ollama",
        "none",
    ],
)
def test_finish_reasons_are_read_from_each_providers_raw_chunk(
    raw: Any, reason: str | None
) -> None:
    """OpenAI, Anthropic and Ollama shapes, as objects or dicts, give their finish reason."""
    assert finish_reason_of(raw) == reason


def test_usage_is_read_from_token_counts_or_raw_usage() -> None:
    """Token counts come from the response's kwargs, else from raw.usage in either naming."""
    counted = ChatResponse(
        message=ChatMessage(),
        additional_kwargs={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    )
    anthropic = ChatResponse(
        message=ChatMessage(), raw={"usage": {"input_tokens": 5, "output_tokens": 6}}
    )

    assert usage_of(counted) == Usage(3, 4, 7)
    assert usage_of(anthropic) == Usage(5, 6, 11)
    assert usage_of(ChatResponse(message=ChatMessage())) is None


def test_text_deltas_are_what_each_response_adds() -> None:
    """The delta is the response's own delta, or the growth of its cumulative text."""
    reader = DeltaReader("m")
    given = [
        chunk("Hel", "Hel"),
        chunk("Hello", None),
        CompletionResponse(text="Hello!", delta="!"),
    ]

    assert [reader.delta(r).text for r in given] == ["Hel", "lo", "!"]


def test_a_streamed_tool_call_shows_progress_then_its_whole_arguments() -> None:
    """A streaming call's fragments carry id and name; its arguments come whole at the finish."""
    reader = DeltaReader("m")
    partial = ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs='{"a": 1')
    whole = ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs='{"a": 1, "b": 2}')

    deltas = [
        reader.delta(chunk("", "", None, partial)),
        reader.delta(chunk("", "", None, whole)),
        reader.delta(chunk("", "", {"choices": [{"finish_reason": "tool_calls"}]}, whole)),
    ]

    assert [d.tool_calls for d in deltas[:2]] == [(ToolCallChunk(0, "c1", "add"),)] * 2
    assert deltas[2].tool_calls == (ToolCallChunk(0, arguments='{"a": 1, "b": 2}'),)
    assert reader.tail() is None


def test_tool_call_fragments_assemble_into_one_call_in_the_chain() -> None:
    """Through a chain, the fragments arrive as one complete tool call."""
    whole = ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={"a": 1, "b": 2})
    responses = [
        chunk("", "", None, whole),
        chunk("", "", {"choices": [{"finish_reason": "tool_calls"}]}, whole),
    ]

    class Target:
        def stream(self, request: object, continuation: object) -> Any:
            return DeltaReader("m").read(iter(responses))

        def astream(self, request: object, continuation: object) -> Any:
            raise NotImplementedError

    delivered = [d for d in Chain([Hop(Target())]).stream("request") if d.tool_calls]

    assert [d.tool_calls for d in delivered] == [
        (ToolCallChunk(0, "c1", "add", '{"a": 1, "b": 2}'),)
    ]


def test_tool_calls_of_a_hop_without_finish_reasons_are_sent_after_its_last_response() -> None:
    """A stream that never reports a finish still delivers its tool calls' arguments."""
    whole = ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs="{}")
    deltas = list(DeltaReader("m").read(iter([chunk("", "", None, whole)])))

    assert deltas[-1] == Delta(tool_calls=(ToolCallChunk(0, arguments="{}"),), model="m")
