"""Reasoning models through FallbackChatModel: real ChatAnthropic / ChatOpenAI hops, strict server.

Thinking streams through from the serving hop as ``thinking`` blocks, is never
glued across a continuation, and a later turn served by another model or
provider never gets the first model's signed thinking or Anthropic's
``cache_control`` - the fault server refuses both as the real APIs do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.tools import tool

from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import ChatHop, FallbackChatModel
from langchain_fallback._history import thinking_for
from tests.reasoning import ANSWER, CITY, THINKING, THOUGHT, reasoning_models

from .servers import AnthropicHops, OpenAIHops


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """Reasoning models on both APIs, sharing one answer so any can finish another's."""
    return reasoning_models(("claude-a", "claude-b", "gpt"), "tool-claude", "tool-gpt")


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


def thinker(hops: AnthropicHops, name: str) -> Any:
    return hops(name, thinking=THINKING, max_tokens=2048)


def fallback(*models: Any) -> FallbackChatModel:
    hops = [ChatHop(m, name=getattr(m, "model", None) or m.model_name) for m in models]
    return FallbackChatModel(models=hops, backoff=lambda n: 0.0, max_retry_after=1)


def streamed(model: Any, messages: list[BaseMessage]) -> AIMessageChunk:
    whole: AIMessageChunk | None = None
    for chunk in model.stream(messages):
        whole = chunk if whole is None else whole + chunk
    assert whole is not None
    return whole


def thinking_of(message: BaseMessage) -> list[dict[str, Any]]:
    content = message.content if isinstance(message.content, list) else []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "thinking"]


def test_anthropic_thinking_streams_through_with_its_signature(
    anthropic_hop: AnthropicHops,
) -> None:
    """The caller's message holds the serving model's thinking block, signed, then the text."""
    message = streamed(fallback(thinker(anthropic_hop, "claude-a")), [HumanMessage("Hi")])
    [block] = thinking_of(message)
    assert block["thinking"] == THOUGHT
    assert block["signature"]
    assert message.text == ANSWER


def test_thinking_is_not_glued_across_a_continuation(
    fault_server: FaultServer, anthropic_hop: AnthropicHops
) -> None:
    """A cut mid-answer is finished by the backup; the caller keeps one thinking, one answer."""
    reasoning_tokens = len(THOUGHT.split())
    fault_server.set_fault("claude-a", Fault.cut_after(reasoning_tokens + 4))
    model = fallback(thinker(anthropic_hop, "claude-a"), thinker(anthropic_hop, "claude-b"))
    message = streamed(model, [HumanMessage("Hi")])
    assert [b["thinking"] for b in thinking_of(message)] == [THOUGHT]
    assert message.text == ANSWER
    attempts = message.response_metadata["fallback"]["attempts"]
    # The prefill is sent with thinking off (Anthropic refuses a prefill that opens without it).
    assert [(a["continuation"], a["outcome"]) for a in attempts] == [
        (None, "failed"),
        ("prefill", "ok"),
    ]


def first_turn(model: FallbackChatModel) -> list[BaseMessage]:
    question = HumanMessage(
        [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]
    )
    answer = model.invoke([question])
    return [question, answer, HumanMessage("Tell me more")]


@pytest.mark.parametrize("backup", ["anthropic-other-model", "openai"])
def test_a_later_turn_on_another_model_gets_no_foreign_state(
    fault_server: FaultServer, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops, backup: str
) -> None:
    """Turn 1 from claude-a (signed thinking, cache_control); turn 2 served by another model."""
    other = thinker(anthropic_hop, "claude-b") if backup != "openai" else openai_hop("gpt")
    model = fallback(thinker(anthropic_hop, "claude-a"), other)
    history = first_turn(model)
    assert thinking_of(history[1])
    fault_server.set_fault("claude-a", Fault.rate_limit())
    answer = model.invoke(history)
    assert answer.text == ANSWER
    assert answer.response_metadata["fallback"]["served_by"] == (
        "claude-b" if backup != "openai" else "gpt"
    )


def test_a_later_turn_from_openai_is_served_by_anthropic(
    fault_server: FaultServer, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops
) -> None:
    """The reverse: turn 1 from the OpenAI hop, turn 2 from the Anthropic hop with thinking."""
    model = fallback(openai_hop("gpt"), thinker(anthropic_hop, "claude-a"))
    history = first_turn(model)
    fault_server.set_fault("gpt", Fault.rate_limit())
    answer = model.invoke(history)
    assert answer.text == ANSWER
    assert [b["thinking"] for b in thinking_of(answer)] == [THOUGHT]


def test_the_same_model_gets_its_own_thinking_back_in_a_tool_loop(
    anthropic_hop: AnthropicHops,
) -> None:
    """Anthropic demands the tool turn's thinking back; the hop that wrote it keeps it."""
    model = fallback(thinker(anthropic_hop, "tool-claude")).bind_tools([weather])
    history: list[BaseMessage] = [HumanMessage("Weather in Paris?")]
    call = model.invoke(history)
    assert isinstance(call, AIMessage)
    assert call.tool_calls
    assert thinking_of(call)
    history += [call, ToolMessage(weather.invoke(CITY), tool_call_id=call.tool_calls[0]["id"])]
    assert model.invoke(history).text == ANSWER


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_anthropic_hop_with_thinking_takes_over_a_tool_loop_an_openai_hop_began(
    fault_server: FaultServer, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops, mode: str
) -> None:
    """The reverse tool loop: ChatOpenAI called the tool, ChatAnthropic (thinking on) gets the
    result; that request goes with thinking off, as Anthropic's docs say, and is answered."""
    model = fallback(openai_hop("tool-gpt"), thinker(anthropic_hop, "tool-claude")).bind_tools(
        [weather]
    )
    history: list[BaseMessage] = [HumanMessage("Weather in Paris?")]
    call = model.invoke(history)
    assert isinstance(call, AIMessage)
    assert call.response_metadata["fallback"]["served_by"] == "tool-gpt"
    history += [call, ToolMessage(weather.invoke(CITY), tool_call_id=call.tool_calls[0]["id"])]
    fault_server.set_fault("tool-gpt", Fault.rate_limit())
    answer = model.invoke(history) if mode == "sync" else asyncio.run(model.ainvoke(history))
    assert answer.text == ANSWER
    assert answer.response_metadata["fallback"]["served_by"] == "tool-claude"
    attempts = answer.response_metadata["fallback"]["attempts"]
    assert [a["outcome"] for a in attempts if a["hop"] == "tool-claude"] == ["ok"]
    assert thinking_of(answer) == []


CLIENT: dict[str, Any] = {"model": "claude-a", "api_key": "t"}


def test_thinking_given_as_a_call_option_is_turned_off_in_the_options() -> None:
    """A thinking call option is switched off in place; a model's own setting on a copy."""
    history: list[BaseMessage] = [
        HumanMessage("Weather in Paris?"),
        AIMessage("", tool_calls=[{"name": "weather", "args": CITY, "id": "call_1"}]),
        ToolMessage("Sunny.", tool_call_id="call_1"),
    ]
    plain = ChatAnthropic(**CLIENT)
    options: dict[str, Any] = {"thinking": THINKING}
    assert thinking_for(plain, history, options, "hop") is plain
    assert options == {"thinking": {"type": "disabled"}}
    thinker = ChatAnthropic(**CLIENT, thinking=THINKING)
    copy = thinking_for(thinker, history, {}, "hop")
    assert getattr(copy, "thinking", None) == {"type": "disabled"}
    assert thinker.thinking == THINKING
