"""`FallbackMiddleware` in real ``create_agent`` graphs: ChatOpenAI hops on the fault server."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool

from fallback_core import ConfigurationError, Event, HopEnded, RetryScheduled
from fallback_core.testing import Fault, FaultServer
from langchain_fallback.middleware import FallbackMiddleware

from .servers import OpenAIHops

ANSWER = "It is sunny in Paris today."
INPUTS: Any = {"messages": [HumanMessage("What is the weather in Paris?")]}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny and 24C in {city}."


def agent_for(openai_hop: OpenAIHops, events: list[Event], **options: Any) -> Any:
    """An agent on the ``tooler`` model, backed by ``tooler-backup`` through the middleware."""
    middleware = FallbackMiddleware(
        openai_hop("tooler-backup"), hooks=[events.append], backoff=lambda n: 0.0, **options
    )
    return create_agent(openai_hop("tooler"), tools=[get_weather], middleware=[middleware])


def streamed(agent: Any, kind: str) -> tuple[str, list[Any]]:
    """The model node's streamed text, and the messages of the agent's final state."""
    tokens: list[str] = []
    final: list[Any] = []

    def collect(mode: str, payload: Any) -> None:
        if mode == "values":
            final[:] = payload["messages"]
            return
        chunk, metadata = payload
        if metadata.get("langgraph_node") == "model" and isinstance(chunk, AIMessageChunk):
            tokens.append(chunk.text)

    modes = ["messages", "values"]
    if kind == "sync":
        for mode, payload in agent.stream(INPUTS, stream_mode=modes):
            collect(mode, payload)
    else:

        async def main() -> None:
            async for mode, payload in agent.astream(INPUTS, stream_mode=modes):
                collect(mode, payload)

        asyncio.run(main())
    return "".join(tokens), final


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_agent_answer_cut_mid_stream_is_continued_by_the_backup(
    fault_server: FaultServer, openai_hop: OpenAIHops, kind: str
) -> None:
    """The agent's final answer, cut mid-stream on its model, streams whole and once."""
    # the tool-call turn is healthy; the final answer dies after three tokens
    fault_server.set_fault("tooler", Fault.sequence(Fault.slow_first_token(0), Fault.cut_after(3)))
    events: list[Event] = []
    agent = agent_for(openai_hop, events)

    text, messages = streamed(agent, kind)

    assert text == ANSWER
    assert messages[-1].text == ANSWER
    assert [m.text for m in messages if isinstance(m, ToolMessage)] == ["Sunny and 24C in Paris."]
    assert fault_server.attempt_count("tooler") == 2
    assert fault_server.attempt_count("tooler-backup") == 1
    ended = [(e.hop, e.outcome) for e in events if isinstance(e, HopEnded)]
    assert ended == [("tooler", "ok"), ("tooler", "failed"), ("tooler-backup", "ok")]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_agent_with_a_failing_model_calls_its_tool_and_answers(
    fault_server: FaultServer, openai_hop: OpenAIHops, kind: str
) -> None:
    """With its own model down, the agent calls its tool and answers through the backup."""
    fault_server.set_fault("tooler", Fault.server_error(503))
    events: list[Event] = []
    agent = agent_for(openai_hop, events, max_retries=0)

    result = agent.invoke(INPUTS) if kind == "sync" else asyncio.run(agent.ainvoke(INPUTS))

    messages = result["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [c.tool_calls[0]["args"] for c in calls] == [{"city": "Paris"}]
    assert [m.text for m in messages if isinstance(m, ToolMessage)] == ["Sunny and 24C in Paris."]
    assert messages[-1].text == ANSWER
    assert messages[-1].response_metadata["model_name"] == "tooler-backup"
    assert fault_server.attempt_count("tooler") == 2  # one per turn, never retried
    assert fault_server.attempt_count("tooler-backup") == 2


def test_agent_honours_retry_after_on_its_own_model(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A 429 with Retry-After is waited out on the agent's model, not handed to the backup."""
    fault_server.set_fault("tooler", Fault.rate_limit(retry_after=0.05, times=1))
    events: list[Event] = []
    agent = agent_for(openai_hop, events)

    result = agent.invoke(INPUTS)

    assert result["messages"][-1].text == ANSWER
    assert fault_server.attempt_count("tooler-backup") == 0
    retries = [(e.hop, e.delay, e.retry_after) for e in events if isinstance(e, RetryScheduled)]
    assert retries == [("tooler", 0.05, 0.05)]


def test_agent_refused_by_its_model_raises_instead_of_failing_over(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A content-policy 400 is the caller's to handle: no backup is asked the same thing."""
    fault_server.set_fault("tooler", Fault.content_policy())
    agent = agent_for(openai_hop, [])

    with pytest.raises(openai.BadRequestError):
        agent.invoke(INPUTS)

    assert fault_server.attempt_count("tooler") == 1
    assert fault_server.attempt_count("tooler-backup") == 0


def test_middleware_checks_its_options_when_built(openai_hop: OpenAIHops) -> None:
    """No backups, or a bad option, is a ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match="backups"):
        FallbackMiddleware()
    with pytest.raises(ConfigurationError, match="idle_timeout"):
        FallbackMiddleware(openai_hop("backup"), idle_timeout=-1)


def test_middleware_reuses_one_chain_per_agent_model(openai_hop: OpenAIHops) -> None:
    """Calls on the same agent model share one chain; another model gets its own."""
    middleware = FallbackMiddleware(openai_hop("backup"))
    primary, other = openai_hop("primary"), openai_hop("third")

    chain = middleware.chain_for(primary)

    assert middleware.chain_for(primary) is chain
    assert middleware.chain_for(other) is not chain
    assert [name for name, _ in chain._state().hops] == ["primary", "backup"]
