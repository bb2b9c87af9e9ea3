"""Reasoning models on the fault server: signed Anthropic thinking, OpenAI-compatible reasoning.

The server is as strict as the real APIs: a thinking block it did not sign
for the request's model is a 400, so are unknown blocks, and OpenAI refuses
content parts (a replayed `thinking` block, a `cache_control` key) it does
not define.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from fallback_core.testing import FaultServer, ModelScript

THOUGHT = "The user wants something useful, so I will explain fallback chains."
ANSWER = "Fallback chains keep answering when one provider fails."
HI = [{"role": "user", "content": "Please say something useful"}]
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """A server whose models reason before they answer."""
    scripts = {
        name: ModelScript(ANSWER, reasoning=THOUGHT) for name in ("claude-a", "claude-b", "gpt")
    }
    with FaultServer(scripts) as started:
        yield started


def _claude(server: FaultServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="t", max_retries=0)


def test_anthropic_streams_a_signed_thinking_block_before_the_text(server: FaultServer) -> None:
    """With thinking on, block 0 is thinking (deltas, then a signature) and block 1 the text."""
    client = _claude(server)
    with client.messages.stream(
        model="claude-a", max_tokens=2048, messages=HI, thinking=THINKING
    ) as stream:
        message = stream.get_final_message()
    thinking, text = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == THOUGHT
    assert thinking.signature
    assert text.type == "text"
    assert text.text == ANSWER


def test_anthropic_without_thinking_sends_no_thinking_block(server: FaultServer) -> None:
    """A request that does not turn thinking on gets only the text."""
    message = _claude(server).messages.create(model="claude-a", max_tokens=2048, messages=HI)
    assert [block.type for block in message.content] == ["text"]


def _turns(server: FaultServer, model: str) -> list[dict[str, Any]]:
    """Two turns whose first answer came (signed) from `model`."""
    first = _claude(server).messages.create(
        model=model, max_tokens=2048, messages=HI, thinking=THINKING
    )
    assistant = [block.model_dump(exclude_none=True) for block in first.content]
    return [*HI, {"role": "assistant", "content": assistant}, {"role": "user", "content": "More"}]


def test_anthropic_accepts_its_own_thinking_replayed(server: FaultServer) -> None:
    """The same model gets its own signed thinking back and answers."""
    message = _claude(server).messages.create(
        model="claude-a", max_tokens=2048, messages=_turns(server, "claude-a"), thinking=THINKING
    )
    assert message.content[-1].text == ANSWER  # type: ignore[union-attr]


def test_anthropic_refuses_thinking_signed_for_another_model(server: FaultServer) -> None:
    """Thinking another model wrote is "Invalid `signature` in `thinking` block", a 400."""
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
        _claude(server).messages.create(
            model="claude-b", max_tokens=2048, messages=_turns(server, "claude-a")
        )


def test_anthropic_refuses_edited_thinking(server: FaultServer) -> None:
    """Thinking whose text changed after signing is refused too."""
    turns = _turns(server, "claude-a")
    turns[1]["content"][0]["thinking"] += " "
    with pytest.raises(anthropic.BadRequestError, match=r"messages\.1\.content\.0: Invalid"):
        _claude(server).messages.create(model="claude-a", max_tokens=2048, messages=turns)


def test_anthropic_refuses_unknown_blocks(server: FaultServer) -> None:
    """A block type the Messages API does not define is a 400 naming its index."""
    turns = [*HI, {"role": "assistant", "content": [{"type": "reasoning", "text": "x"}]}]
    with pytest.raises(anthropic.BadRequestError, match=r"messages.1.content.0: Input tag"):
        _claude(server).messages.create(model="claude-a", max_tokens=2048, messages=turns)


@pytest.mark.parametrize(
    "block",
    [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_1", "content": {}},
        {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_1", "content": {}},
        {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "f", "server_name": "s", "input": {}},
    ],
)
def test_anthropic_accepts_its_server_tool_blocks_replayed(
    server: FaultServer, block: dict[str, Any]
) -> None:
    """Server tool blocks Claude wrote go back to the Messages API as they came."""
    turns = [*HI, {"role": "assistant", "content": [block, {"type": "text", "text": "Done"}]}]
    turns.append({"role": "user", "content": "More"})
    reply = _claude(server).messages.create(model="claude-a", max_tokens=2048, messages=turns)  # type: ignore[arg-type]
    assert reply.content


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "refusal", "refusal": "No."},
    ],
)
def test_anthropic_refuses_openai_only_parts(server: FaultServer, part: dict[str, Any]) -> None:
    """OpenAI's own content parts are blocks the Messages API does not define."""
    turns = [{"role": "user", "content": [{"type": "text", "text": "Hi"}, part]}]
    with pytest.raises(anthropic.BadRequestError, match=r"messages.0.content.1: Input tag"):
        _claude(server).messages.create(model="claude-a", max_tokens=2048, messages=turns)  # type: ignore[arg-type]


def test_anthropic_with_thinking_demands_thinking_first_in_a_tool_turn(
    server: FaultServer,
) -> None:
    """A tool-use turn answered with thinking on must open with its thinking block."""
    call = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    turns = [*HI, {"role": "assistant", "content": [call]}, {"role": "user", "content": [result]}]
    tool = {"name": "f", "input_schema": {"type": "object"}}
    with pytest.raises(anthropic.BadRequestError, match="Expected `thinking` or `redacted"):
        _claude(server).messages.create(
            model="claude-a", max_tokens=2048, messages=turns, thinking=THINKING, tools=[tool]
        )


def test_anthropic_refuses_a_budget_below_the_minimum(server: FaultServer) -> None:
    """A thinking budget under 1024 tokens is a 400 naming the field."""
    with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
        _claude(server).messages.create(
            model="claude-a",
            max_tokens=2048,
            messages=HI,
            thinking={"type": "enabled", "budget_tokens": 10},
        )


def _gpt(server: FaultServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=0)


def test_openai_compatible_reasoning_streams_as_reasoning_content(server: FaultServer) -> None:
    """vLLM / DeepSeek style: `delta.reasoning_content` chunks, then the content."""
    chunks = list(
        _gpt(server).chat.completions.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
    )
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == THOUGHT
    assert "".join(d.content or "" for d in deltas) == ANSWER


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "thinking", "thinking": "hm", "signature": "s"}, "messages[1].content[0].type"),
        ({"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}, "cache_control"),
        ({"type": "text", "text": "hi", "citations": []}, "messages[1].content[0].citations"),
        ({"type": "server_tool_use", "id": "srvtoolu_1"}, "messages[1].content[0].type"),
        ({"type": "web_search_tool_result", "content": []}, "messages[1].content[0].type"),
        ({"type": "mcp_tool_result", "content": "x"}, "messages[1].content[0].type"),
    ],
)
def test_openai_refuses_provider_only_content_parts(
    server: FaultServer, part: dict[str, Any], param: str
) -> None:
    """An Anthropic-only part or key in an assistant turn is OpenAI's 400."""
    turns = [*HI, {"role": "assistant", "content": [part]}, {"role": "user", "content": "More"}]
    with pytest.raises(openai.BadRequestError) as raised:
        _gpt(server).chat.completions.create(model="gpt", messages=turns)  # type: ignore[arg-type]
    assert param in str(raised.value.body)
