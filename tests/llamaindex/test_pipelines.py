"""Real LlamaIndex pipelines on a FallbackLLM whose primary fails, over real HTTP.

Hops are OpenAILike clients on the local fault server; embeddings are
MockEmbedding. Each pipeline runs with the primary failing before its first
token, dying mid-stream, and stalling, and must return the complete answer.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.chat_engine import CondensePlusContextChatEngine, SimpleChatEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM
from tests.llamaindex.http import SHARED, models, openai_like

FAULTS = {
    "before-first-token": Fault.server_error(503),
    "mid-stream": Fault.cut_after(6),
    "stall": Fault.stall_after(4),
}
DOCUMENTS = [
    Document(text="A fallback chain tries its models in order."),
    Document(text="A broken stream is continued by the next model."),
]


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Album(BaseModel):
    """An album and the year it came out."""

    title: str
    year: int


ALBUM = {"title": "Blue", "year": 1971}


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return {
        **models(tool_calls=(("multiply", {"a": 6, "b": 7}), ("add", {"a": 42, "b": 1}))),
        "album-primary": ModelScript(answer=SHARED, tool_call=("Album", ALBUM)),
        "album-backup": ModelScript(answer=SHARED, tool_call=("Album", ALBUM)),
    }


@pytest.fixture(params=list(FAULTS))
def failing(request: pytest.FixtureRequest, fault_server: FaultServer) -> FaultServer:
    """The fault server with its primary failing one way: before, during, or stalled."""
    fault_server.set_fault("primary", FAULTS[request.param])
    return fault_server


def fallback(server: FaultServer, primary: str = "primary", backup: str = "backup") -> FallbackLLM:
    return FallbackLLM(
        [openai_like(server, primary), openai_like(server, backup)],
        idle_timeout=0.3,
        backoff=lambda retry: 0.0,
    )


@pytest.fixture
def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(DOCUMENTS, embed_model=MockEmbedding(embed_dim=8))


# -- query engines ----------------------------------------------------------------


def test_query_engine_query(failing: FaultServer, index: VectorStoreIndex) -> None:
    """A query engine's answer is the complete canonical answer."""
    engine = index.as_query_engine(llm=fallback(failing))

    assert str(engine.query("What does a fallback chain do?")) == SHARED


def test_query_engine_streaming_query(failing: FaultServer, index: VectorStoreIndex) -> None:
    """A streaming query's tokens join into the complete answer."""
    engine = index.as_query_engine(llm=fallback(failing), streaming=True)

    response = engine.query("What does a fallback chain do?")

    assert isinstance(response, StreamingResponse)
    assert "".join(response.response_gen) == SHARED


async def test_query_engine_async_streaming_query(
    failing: FaultServer, index: VectorStoreIndex
) -> None:
    """An async streaming query's tokens join into the complete answer."""
    engine = index.as_query_engine(llm=fallback(failing), streaming=True)

    response = await engine.aquery("What does a fallback chain do?")

    assert isinstance(response, AsyncStreamingResponse)
    assert "".join([t async for t in response.async_response_gen()]) == SHARED


# -- chat engines ------------------------------------------------------------------


def test_simple_chat_engine_chat_and_stream_chat(failing: FaultServer) -> None:
    """SimpleChatEngine answers in full, then streams a second full answer."""
    engine = SimpleChatEngine.from_defaults(llm=fallback(failing))

    assert engine.chat("Hello?").response == SHARED
    streamed = engine.stream_chat("And again?")
    assert "".join(streamed.response_gen) == SHARED


def test_condense_plus_context_chat_engine(failing: FaultServer, index: VectorStoreIndex) -> None:
    """The condensing engine answers in full; its second turn condenses through the chain too."""
    engine = CondensePlusContextChatEngine.from_defaults(
        retriever=index.as_retriever(), llm=fallback(failing)
    )

    assert engine.chat("What is a fallback chain?").response == SHARED
    streamed = engine.stream_chat("And what happens to a broken stream?")
    assert "".join(streamed.response_gen) == SHARED
    assert [m.content for m in engine.chat_history][-1] == SHARED


# -- agents and structured output --------------------------------------------------


AGENT_FAULTS = {
    "before-first-token": Fault.server_error(503),
    "mid-tool-call": Fault.cut_after(3, times=1),
    "stall-in-tool-call": Fault.stall_after(2, times=1),
    # two healthy tool-call turns, then the final answer is cut mid-stream
    "mid-answer": Fault.sequence(
        Fault.slow_first_token(0), Fault.slow_first_token(0), Fault.cut_after(6)
    ),
}


@pytest.mark.parametrize("fault", list(AGENT_FAULTS.values()), ids=list(AGENT_FAULTS))
# llama-index-workflows inspects the agent with pydantic v1 attribute names.
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211")
async def test_function_agent_with_two_tools_streams_a_complete_answer(
    fault_server: FaultServer, fault: Fault
) -> None:
    """A streaming FunctionAgent calls both tools in turn and streams the complete final answer."""
    fault_server.set_fault("primary", fault)
    tools = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
    agent = FunctionAgent(tools=tools, llm=fallback(fault_server), streaming=True)

    handler = agent.run(user_msg="What is 6 times 7, plus 1?", max_iterations=6)
    results: list[ToolCallResult] = []
    deltas: list[str] = []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            results.append(event)
        elif isinstance(event, AgentStream):
            deltas.append(event.delta)
    output = await handler

    assert [(r.tool_name, r.tool_kwargs, r.tool_output.content) for r in results] == [
        ("multiply", {"a": 6, "b": 7}, "42"),
        ("add", {"a": 42, "b": 1}, "43"),
    ]
    assert output.response.content == SHARED
    assert "".join(deltas) == SHARED


@pytest.mark.parametrize("fault", [Fault.server_error(503), Fault.cut_after(3)], ids=["503", "cut"])
def test_structured_predict_fills_the_model(fault_server: FaultServer, fault: Fault) -> None:
    """structured_predict returns the pydantic object from the hop that answered."""
    fault_server.set_fault("album-primary", fault)
    llm = fallback(fault_server, "album-primary", "album-backup")

    album = llm.structured_predict(Album, PromptTemplate("Name an album about {topic}."), topic="x")

    assert album == Album(**ALBUM)
    assert fault_server.attempt_count("album-backup") == 1
