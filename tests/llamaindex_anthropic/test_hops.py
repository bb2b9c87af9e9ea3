"""LlamaIndex `Anthropic` hops, alone and mixed with `OpenAILike`, over the fault server.

Every fault, sync and async, streamed and not, each order of providers; a
stream that ends without its stop event is continued (not returned as
complete); a query engine and a FunctionAgent with a tool on a Claude primary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from llama_index.core import Document, MockEmbedding, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool
from llama_index.llms.anthropic import Anthropic
from llama_index.llms.openai_like import OpenAILike

from fallback_core import Category
from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM, LLMHop

SHARED = (
    "Fallback chains keep a pipeline answering when one provider stumbles, and the caller "
    "sees one answer with nothing lost or repeated."
)
CLAUDE, CLAUDE_BACKUP = "claude-haiku-4-5", "claude-sonnet-4-5"
NAMES = {"anthropic": (CLAUDE, CLAUDE_BACKUP), "openai": ("primary", "backup")}
TOOLERS = {"anthropic": ("claude-opus-4-5", "claude-opus-4-1"), "openai": ("tooler", "tooler-b")}


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """Models sharing one answer; the tool callers call the offered tool once, then answer."""
    scripts = {name: ModelScript(SHARED) for pair in NAMES.values() for name in pair}
    for pair in TOOLERS.values():
        scripts.update({name: ModelScript(SHARED, tool_call="auto") for name in pair})
    return scripts


def claude(server: FaultServer, model: str, **options: Any) -> Anthropic:
    """A real LlamaIndex Anthropic client for ``model`` on ``server``, with no retries."""
    return Anthropic(
        model=model,
        base_url=server.anthropic_base_url,
        api_key="t",
        max_retries=0,
        timeout=10,
        **options,
    )


def openai_like(server: FaultServer, model: str) -> OpenAILike:
    return OpenAILike(
        model=model,
        api_base=server.base_url,
        api_key="t",
        max_retries=0,
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=16_000,
        async_http_client=httpx.AsyncClient(timeout=10),
    )


def chain(
    server: FaultServer,
    order: str,
    names: Mapping[str, tuple[str, str]] = NAMES,
    primary_window: int | None = None,
    **options: Any,
) -> tuple[FallbackLLM, str]:
    """The chain for ``order`` ("anthropic>openai", ...), and its primary's model name."""
    first, second = order.split(">")
    make = {"anthropic": claude, "openai": openai_like}
    primary = make[first](server, names[first][0])
    backup = make[second](server, names[second][1])
    hops = [
        LLMHop(primary, name="primary", context_window=primary_window),
        LLMHop(backup, name="backup"),
    ]
    return FallbackLLM(hops, **options), names[first][0]


def ask(llm: FallbackLLM, mode: str, streamed: bool) -> Any:
    """The final response of one chat, sync or async, streamed or not."""
    messages = [ChatMessage(role="user", content="Tell me about fallback chains.")]

    async def run() -> Any:
        if not streamed:
            return await llm.achat(messages)
        return [r async for r in await llm.astream_chat(messages)][-1]

    if mode == "async":
        return asyncio.run(run())
    return list(llm.stream_chat(messages))[-1] if streamed else llm.chat(messages)


FAULTS = [
    pytest.param(Fault.cut_after(4), Category.CONNECTION, id="cut"),
    pytest.param(Fault.error_event(4), Category.SERVER, id="overloaded-mid-stream"),
    pytest.param(Fault.stall_after(3), Category.TIMEOUT, id="stall"),
    pytest.param(Fault.server_error(529), Category.SERVER, id="529"),
    pytest.param(Fault.rate_limit(retry_after=5), Category.RATE_LIMIT, id="429"),
    pytest.param(Fault.reset_before_headers(), Category.CONNECTION, id="reset"),
    pytest.param(Fault.malformed_chunk(2), Category.MALFORMED, id="garbled"),
    pytest.param(Fault.context_length_exceeded(), Category.CONTEXT_LENGTH, id="too-long"),
]


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("order", ["anthropic>openai", "openai>anthropic"])
@pytest.mark.parametrize(("fault", "category"), FAULTS)
def test_every_fault_gives_the_exact_answer(
    fault_server: FaultServer,
    order: str,
    mode: str,
    streamed: bool,
    fault: Fault,
    category: Category,
) -> None:
    """Whatever breaks the primary, the backup finishes (or gives) the answer exactly."""
    stalls = fault.name == "stall_after"
    llm, primary = chain(
        fault_server,
        order,
        primary_window=1000,  # smaller than the backup's, which takes a too-long prompt
        idle_timeout=0.5 if stalls else None,
        max_retry_after=1,
    )
    fault_server.set_fault(primary, fault)

    response = ask(llm, mode, streamed)

    assert response.message.content == SHARED
    trace = response.additional_kwargs["fallback"]
    assert trace["served_by"] == "backup"
    assert trace["attempts"][0]["category"] == category.value


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_healthy_claude_stream_ends_with_the_stop_reason_the_adapter_reads(
    fault_server: FaultServer, mode: str
) -> None:
    """The integration yields message_delta's stop_reason: the hop requires it, and it is read."""
    llm, _ = chain(fault_server, "anthropic>openai")
    assert llm.fallback_chain.hops[0].require_finish

    response = ask(llm, mode, streamed=True)

    assert response.additional_kwargs["fallback"]["finish_reason"] == "end_turn"
    assert fault_server.attempt_count("backup") == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_claude_stream_ending_without_its_stop_event_is_continued(
    fault_server: FaultServer, mode: str
) -> None:
    """All but the last words sent, then no message_delta: continued, not taken as whole."""
    llm, primary = chain(fault_server, "anthropic>openai")
    fault_server.set_fault(primary, Fault.cut_after(len(SHARED.split()) - 2))

    response = ask(llm, mode, streamed=True)

    assert response.message.content == SHARED
    assert response.additional_kwargs["fallback"]["served_by"] == "backup"
    assert fault_server.attempts(primary)[0].outcome == "cut"


def test_a_prefill_ending_in_a_space_is_refused_then_sent_as_an_instruction(
    fault_server: FaultServer,
) -> None:
    """llama-index-llms-anthropic sends the prefill as is: the API's 400, then an instruction."""
    llm, primary = chain(fault_server, "anthropic>anthropic")
    fault_server.set_fault(primary, Fault.cut_after(3))

    response = ask(llm, "sync", streamed=True)

    assert response.message.content == SHARED
    statuses = [(a.model, a.status) for a in fault_server.attempts(CLAUDE_BACKUP)]
    assert statuses[-1] == (CLAUDE_BACKUP, 200)


def test_a_query_engine_answers_through_a_claude_cut(fault_server: FaultServer) -> None:
    """A streaming query engine over an index answers completely across a mid-stream cut."""
    llm, primary = chain(fault_server, "anthropic>openai")
    fault_server.set_fault(primary, Fault.error_event(5))
    documents = [Document(text="Fallback chains continue broken answers.")]
    index = VectorStoreIndex.from_documents(documents, embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(llm=llm, streaming=True)

    answer = engine.query("What do fallback chains do?")

    assert "".join(answer.response_gen) == SHARED


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211")
@pytest.mark.parametrize("order", ["anthropic>openai", "openai>anthropic"])
async def test_a_function_agent_calls_its_tool_through_a_claude_hop(
    fault_server: FaultServer, order: str
) -> None:
    """A FunctionAgent on Claude and GPT calls its tool and answers while the primary is down."""
    llm, primary = chain(fault_server, order, TOOLERS)
    fault_server.set_fault(primary, Fault.server_error(529))
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=multiply)], llm=llm)

    handler = agent.run(user_msg="What is 6 times 7?", max_iterations=4)
    results = [e async for e in handler.stream_events() if isinstance(e, ToolCallResult)]
    output = await handler

    # the scripted model fills each integer with the prompt's first number
    assert [(r.tool_name, r.tool_kwargs, r.tool_output.content) for r in results] == [
        ("multiply", {"a": 6, "b": 6}, "36")
    ]
    assert output.response.content == SHARED
