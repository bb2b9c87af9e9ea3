"""Reasoning models through FallbackLLM: real `Anthropic` / `OpenAILike` hops, strict server.

Thinking streams through from the serving hop as LlamaIndex does it (a
``thinking_delta`` per response, a signed ``ThinkingBlock`` in the message),
is never glued across a continuation, and a later turn served by another
model or provider never gets the first model's signed thinking or Anthropic's
``CachePoint`` - the fault server refuses foreign thinking as the real API
does, and ``OpenAI`` raises on a ``CachePoint``. The reverse tool loop (an
OpenAI hop made the tool call, a Claude hop with thinking gets the result)
goes with thinking off for that request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from llama_index.core.agent.workflow import AgentStream, FunctionAgent
from llama_index.core.base.llms.types import (
    CacheControl,
    CachePoint,
    ChatMessage,
    ChatResponse,
    TextBlock,
    ThinkingBlock,
)
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import LLM
from llama_index.core.tools import FunctionTool
from llama_index.llms.anthropic import Anthropic
from llama_index.llms.openai_like import OpenAILike

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM, LLMHop
from tests.llamaindex.http import openai_like
from tests.llamaindex_anthropic.test_hops import claude as plain_claude
from tests.reasoning import ANSWER, THINKING, THOUGHT, reasoning_models

# LlamaIndex's Anthropic knows the context window of real model names only.
CLAUDE_A, CLAUDE_B, TOOL_CLAUDE = "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """Reasoning models on both APIs, sharing one answer so any can finish another's."""
    return reasoning_models((CLAUDE_A, CLAUDE_B, "gpt"), TOOL_CLAUDE, "tool-gpt")


def claude(server: FaultServer, model: str) -> Anthropic:
    return plain_claude(server, model, max_tokens=2048, thinking_dict=THINKING)


def gpt(server: FaultServer, model: str) -> OpenAILike:
    return openai_like(server, model)


def fallback(*llms: LLM) -> FallbackLLM:
    hops = [LLMHop(llm, name=llm.metadata.model_name) for llm in llms]
    return FallbackLLM(hops, max_retry_after=1, max_attempts=4)


def streamed(llm: FallbackLLM, messages: list[ChatMessage], mode: str) -> list[ChatResponse]:
    async def collect() -> list[ChatResponse]:
        return [r async for r in await llm.astream_chat(messages)]

    return list(llm.stream_chat(messages)) if mode == "sync" else asyncio.run(collect())


def thinking_of(message: ChatMessage) -> list[ThinkingBlock]:
    return [b for b in message.blocks if isinstance(b, ThinkingBlock)]


def hi() -> list[ChatMessage]:
    return [ChatMessage(role="user", content="Hi")]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_claude_thinking_streams_through_as_one_signed_block(
    fault_server: FaultServer, mode: str
) -> None:
    """Each response brings its thinking_delta; the message opens with Claude's signed block."""
    responses = streamed(fallback(claude(fault_server, CLAUDE_A)), hi(), mode)
    deltas = [r.additional_kwargs.get("thinking_delta") or "" for r in responses]
    assert "".join(deltas) == THOUGHT
    message = responses[-1].message
    [block] = thinking_of(message)
    assert message.blocks[0] is block
    assert block.content == THOUGHT
    assert block.additional_information["signature"]
    assert block.additional_information["model"] == CLAUDE_A
    assert message.content == ANSWER


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_thinking_is_not_glued_across_a_continuation(fault_server: FaultServer, mode: str) -> None:
    """A cut mid-answer is finished by the backup's prefill (thinking off for it): one thought."""
    fault_server.set_fault(CLAUDE_A, Fault.cut_after(len(THOUGHT.split()) + 4))
    llm = fallback(claude(fault_server, CLAUDE_A), claude(fault_server, CLAUDE_B))
    responses = streamed(llm, hi(), mode)
    message = responses[-1].message
    assert [b.content for b in thinking_of(message)] == [THOUGHT]
    assert message.content == ANSWER
    attempts = responses[-1].additional_kwargs["fallback"]["attempts"]
    assert [(a["hop"], a["continuation"], a["outcome"]) for a in attempts] == [
        (CLAUDE_A, None, "failed"),
        (CLAUDE_B, "prefill", "ok"),
    ]


def cached_engine(llm: FallbackLLM) -> SimpleChatEngine:
    """A chat engine whose system prompt carries a prompt-cache point, as Anthropic users do."""
    cache = CachePoint(cache_control=CacheControl(type="ephemeral"))
    system = ChatMessage(role="system", blocks=[TextBlock(text="Be brief."), cache])
    return SimpleChatEngine.from_defaults(llm=llm, prefix_messages=[system])


@pytest.mark.parametrize("backup", [CLAUDE_B, "gpt"])
def test_a_later_turn_on_another_model_gets_no_foreign_state(
    fault_server: FaultServer, backup: str
) -> None:
    """Turn 1 from claude-a (signed thinking, a cache point); turn 2 served by another model."""
    other = claude(fault_server, backup) if backup != "gpt" else gpt(fault_server, backup)
    engine = cached_engine(fallback(claude(fault_server, CLAUDE_A), other))
    first = engine.chat("Hi")
    assert first.response == ANSWER
    assert thinking_of(engine.chat_history[-1])
    fault_server.set_fault(CLAUDE_A, Fault.rate_limit())
    second = engine.chat("Tell me more")
    assert second.response == ANSWER
    assert [r.outcome for r in fault_server.attempts(backup)] == ["completed"]


def test_a_later_turn_from_openai_is_served_by_claude_with_thinking(
    fault_server: FaultServer,
) -> None:
    """The reverse: turn 1 from the OpenAI hop (unsigned reasoning), turn 2 from Claude."""
    engine = cached_engine(fallback(gpt(fault_server, "gpt"), claude(fault_server, CLAUDE_A)))
    engine.chat("Hi")
    assert [r.outcome for r in fault_server.attempts("gpt")] == ["completed"]
    assert thinking_of(engine.chat_history[-1])  # the gpt hop's reasoning, unsigned
    fault_server.set_fault("gpt", Fault.rate_limit())
    assert engine.chat("Tell me more").response == ANSWER
    [block] = thinking_of(engine.chat_history[-1])
    assert block.additional_information["model"] == CLAUDE_A


def weather_tool(server: FaultServer, breaks: str) -> FunctionTool:
    """The weather tool; calling it takes ``breaks`` down, so the next turn goes to the backup."""

    def weather(city: str) -> str:
        """The weather in a city."""
        server.set_fault(breaks, Fault.rate_limit())
        return f"Sunny in {city}."

    return FunctionTool.from_defaults(fn=weather)


async def run_agent(llm: FallbackLLM, tool: FunctionTool) -> tuple[str, list[AgentStream]]:
    agent = FunctionAgent(tools=[tool], llm=llm)
    handler = agent.run(user_msg="Weather in Paris?", max_iterations=4)
    events = [e async for e in handler.stream_events() if isinstance(e, AgentStream)]
    output = await handler
    return str(output.response.content), events


@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211")
async def test_claude_with_thinking_takes_over_a_tool_loop_an_openai_hop_began(
    fault_server: FaultServer,
) -> None:
    """The reverse tool loop: GPT called the tool, Claude (thinking on) gets the result and
    answers - that request goes with thinking off, as Anthropic's docs say."""
    llm = fallback(gpt(fault_server, "tool-gpt"), claude(fault_server, TOOL_CLAUDE))
    answer, _ = await run_agent(llm, weather_tool(fault_server, "tool-gpt"))
    assert answer == ANSWER
    assert [r.outcome for r in fault_server.attempts(TOOL_CLAUDE)] == ["completed"]


@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211")
async def test_an_agent_on_claude_streams_its_thinking_and_keeps_it_for_the_tool_turn(
    fault_server: FaultServer,
) -> None:
    """A FunctionAgent's AgentStream events carry Claude's thinking; its tool turn is answered
    with thinking still on, so Claude got its own signed thinking back."""
    llm = fallback(claude(fault_server, TOOL_CLAUDE), gpt(fault_server, "gpt"))
    answer, events = await run_agent(llm, weather_tool(fault_server, "nobody"))
    assert answer == ANSWER
    assert "".join(e.thinking_delta or "" for e in events) == THOUGHT * 2
    assert [r.outcome for r in fault_server.attempts(TOOL_CLAUDE)] == ["completed", "completed"]
