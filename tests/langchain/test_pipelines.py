"""Real LangChain pipelines with the FallbackChatModel dropped in, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tools import tool

from fallback_core.testing import Fault, FaultServer
from langchain_fallback import FallbackChatModel, with_backups

from .conftest import ANSWER
from .servers import OpenAIHops

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You explain things briefly."), ("human", "{question}")]
)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_prompt_model_parser_streams_through_a_mid_stream_failure(
    fault_server: FaultServer, openai_hop: OpenAIHops, kind: str
) -> None:
    """``prompt | model | StrOutputParser()`` streams the whole answer once across a cut."""
    fault_server.set_fault("primary", Fault.cut_after(4))
    chain = PROMPT | with_backups(openai_hop("primary"), openai_hop("backup")) | StrOutputParser()
    question = {"question": "What is a fallback chain?"}

    async def astream() -> list[str]:
        return [part async for part in chain.astream(question)]

    parts = list(chain.stream(question)) if kind == "sync" else asyncio.run(astream())

    assert "".join(parts) == ANSWER
    assert len(parts) > 2
    assert fault_server.attempts("backup")[0].continuation


@pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainDeprecationWarning")
def test_message_history_keeps_one_turn_per_call_across_failover(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """RunnableWithMessageHistory records each turn once, with the answer the backup finished."""
    fault_server.set_fault("primary", Fault.cut_after(3, times=1))
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    histories: dict[str, InMemoryChatMessageHistory] = {}

    def history_for(session_id: str) -> InMemoryChatMessageHistory:
        return histories.setdefault(session_id, InMemoryChatMessageHistory())

    model = with_backups(openai_hop("primary"), openai_hop("backup"))
    chat = RunnableWithMessageHistory(
        prompt | model,
        history_for,
        input_messages_key="question",
        history_messages_key="history",
    )
    config: Any = {"configurable": {"session_id": "s1"}}

    first = chat.invoke({"question": "Hello?"}, config)
    second = "".join(c.text for c in chat.stream({"question": "And again?"}, config))

    messages = histories["s1"].messages
    assert [isinstance(m, AIMessage) for m in messages] == [False, True, False, True]
    assert first.text == ANSWER == messages[1].text
    assert second == ANSWER == messages[3].text
    assert messages[1].response_metadata["model_name"] == "backup"
    assert messages[3].response_metadata["model_name"] == "primary"


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny and 24C in {city}."


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_agent_with_tools_keeps_working_when_its_primary_fails(
    fault_server: FaultServer, openai_hop: OpenAIHops, kind: str
) -> None:
    """An agent built on the model calls its tool and answers while the primary is down."""
    fault_server.set_fault("tooler", Fault.server_error(503))
    model = FallbackChatModel(
        models=[openai_hop("tooler"), openai_hop("tooler-backup")], backoff=lambda n: 0.0
    )
    agent = create_agent(model, tools=[get_weather])
    inputs: Any = {"messages": [HumanMessage("What is the weather in Paris?")]}

    result = agent.invoke(inputs) if kind == "sync" else asyncio.run(agent.ainvoke(inputs))

    messages = result["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [c.tool_calls[0]["args"] for c in calls] == [{"city": "Paris"}]
    tool_results = [m.text for m in messages if isinstance(m, ToolMessage)]
    assert tool_results == ["Sunny and 24C in Paris."]
    assert messages[-1].text == "It is sunny in Paris today."
    assert fault_server.attempt_count("tooler-backup") == 2
