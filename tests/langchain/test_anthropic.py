"""ChatAnthropic as a hop, alone and mixed with ChatOpenAI, over real HTTP to the fault server.

Every fault, every way of calling (invoke, ainvoke, stream, astream), and each
order of providers: the caller gets the exact answer, the attempts are
classified as the failure was, and a broken Anthropic stream counts against
its circuit like any dropped connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from fallback_core import Breaker, Category, Health, HopBugError
from fallback_core.testing import Fault, FaultServer
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import ANSWER, Call
from .servers import AnthropicHops, OpenAIHops

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
ORDERS = ["anthropic>anthropic", "anthropic>openai", "openai>anthropic"]


def chain(
    order: str, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops, **options: Any
) -> FallbackChatModel:
    makers = {"anthropic": anthropic_hop, "openai": openai_hop}
    first, second = order.split(">")
    hops = [ChatHop(makers[first]("primary"), name="primary")]
    hops.append(ChatHop(makers[second]("backup"), name="backup"))
    return FallbackChatModel(models=hops, backoff=lambda n: 0.0, max_retry_after=1, **options)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("fault", "category"), FAULTS)
def test_every_fault_on_either_provider_gives_the_exact_answer(
    call: Call,
    fault_server: FaultServer,
    anthropic_hop: AnthropicHops,
    openai_hop: OpenAIHops,
    order: str,
    fault: Fault,
    category: Category,
) -> None:
    """Whatever breaks the primary, the backup finishes (or gives) the answer exactly."""
    fault_server.set_fault("primary", fault)
    stalls = fault.name == "stall_after"  # only a stall needs a limit to be noticed
    model = chain(order, anthropic_hop, openai_hop, idle_timeout=0.5 if stalls else None)

    answer = call(model, "Tell me about fallback chains.")

    assert answer.text == ANSWER
    trace = answer.message.response_metadata["fallback"]
    assert trace["served_by"] == "backup"
    assert trace["attempts"][0]["category"] == category.value
    assert fault_server.attempts("primary")[0].fault == fault.name


@pytest.mark.parametrize(
    "fault", [Fault.cut_after(3), Fault.error_event(3)], ids=["cut", "overload"]
)
def test_a_broken_anthropic_stream_opens_its_circuit(
    fault_server: FaultServer,
    anthropic_hop: AnthropicHops,
    openai_hop: OpenAIHops,
    fault: Fault,
) -> None:
    """Two dropped or overloaded Anthropic streams open its circuit: the third call skips it."""
    fault_server.set_fault("primary", fault)
    health = Health(Breaker(failure_threshold=2, cooldown=60))
    model = chain("anthropic>openai", anthropic_hop, openai_hop, health=health)

    answers = [model.invoke("hi").text for _ in range(3)]

    assert answers == [ANSWER] * 3
    assert fault_server.attempt_count("primary") == 2
    assert fault_server.attempt_count("backup") == 3


def test_a_prefill_continuation_reaches_the_api_without_trailing_whitespace(
    fault_server: FaultServer, anthropic_hop: AnthropicHops
) -> None:
    """A cut after a space is continued by prefill: langchain-anthropic strips the space first."""
    fault_server.set_fault("primary", Fault.cut_after(3))
    model = chain("anthropic>anthropic", anthropic_hop, anthropic_hop)

    assert "".join(c.text for c in model.stream("hi")) == ANSWER
    (continued,) = fault_server.attempts("backup")
    assert (continued.continuation, continued.status) == (True, 200)


def test_usage_is_traced_per_attempt_and_summed(
    fault_server: FaultServer, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops
) -> None:
    """Each attempt's usage is in the trace; the answer's usage sums every attempt's.

    langchain-anthropic reports usage only with `message_delta` (it drops the
    counts `message_start` carries), so a Claude stream cut before its end
    reports none: that attempt's cost cannot be known through ChatAnthropic.
    """
    fault_server.set_fault("primary", Fault.cut_after(4))
    model = chain("anthropic>openai", anthropic_hop, openai_hop)

    answer = model.invoke("Tell me about fallback chains.")

    cut, finished = answer.response_metadata["fallback"]["attempts"]
    assert cut["usage"] is None
    assert finished["usage"]["input_tokens"] > 0
    usage = answer.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] == finished["usage"]["input_tokens"]

    fault_server.set_fault("primary", None)
    whole = model.invoke("Tell me about fallback chains.")
    (only,) = whole.response_metadata["fallback"]["attempts"]
    assert only["usage"]["input_tokens"] == 5  # message_delta's cumulative count


PROMPT = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_lcel_chain_streams_through_an_anthropic_cut(
    fault_server: FaultServer, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops, kind: str
) -> None:
    """``prompt | model | StrOutputParser()`` with a Claude primary streams the answer once."""
    fault_server.set_fault("primary", Fault.error_event(5))
    pipeline = PROMPT | chain("anthropic>openai", anthropic_hop, openai_hop) | StrOutputParser()
    question = {"question": "What is a fallback chain?"}

    async def astream() -> list[str]:
        return [part async for part in pipeline.astream(question)]

    parts = list(pipeline.stream(question)) if kind == "sync" else asyncio.run(astream())

    assert "".join(parts) == ANSWER


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny and 24C in {city}."


@pytest.mark.parametrize("order", ["anthropic>openai", "openai>anthropic"])
def test_an_agent_calls_its_tool_through_a_claude_hop(
    fault_server: FaultServer,
    anthropic_hop: AnthropicHops,
    openai_hop: OpenAIHops,
    order: str,
) -> None:
    """create_agent on a chain of Claude and GPT calls the tool and answers while one is down."""
    makers = {"anthropic": anthropic_hop, "openai": openai_hop}
    first, second = order.split(">")
    fault_server.set_fault("tooler", Fault.server_error(529))
    model = FallbackChatModel(
        models=[makers[first]("tooler"), makers[second]("tooler-backup")], backoff=lambda n: 0.0
    )
    agent = create_agent(model, tools=[get_weather])

    result = agent.invoke({"messages": [HumanMessage("What is the weather in Paris?")]})

    messages = result["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [c.tool_calls[0]["args"] for c in calls] == [{"city": "Paris"}]
    assert [m.text for m in messages if isinstance(m, ToolMessage)] == ["Sunny and 24C in Paris."]
    assert messages[-1].text == "It is sunny in Paris today."


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_healthy_stream_carries_the_finish_reason_the_adapter_reads(
    streamed: Call,
    fault_server: FaultServer,
    anthropic_hop: AnthropicHops,
    openai_hop: OpenAIHops,
    provider: str,
) -> None:
    """ChatAnthropic's stop_reason and ChatOpenAI's finish_reason end the answer: no fallback."""
    make = {"anthropic": anthropic_hop, "openai": openai_hop}[provider]
    model = FallbackChatModel(models=[ChatHop(make("primary"), name="primary")])
    assert model.fallback_chain.hops[0].require_finish

    answer = streamed(model, "hi")

    trace = answer.message.response_metadata["fallback"]
    assert trace["finish_reason"] == {"anthropic": "end_turn", "openai": "stop"}[provider]


@pytest.mark.parametrize("order", ["anthropic>openai", "openai>anthropic"])
def test_a_stream_ending_without_its_finish_is_continued(
    streamed: Call,
    fault_server: FaultServer,
    anthropic_hop: AnthropicHops,
    openai_hop: OpenAIHops,
    order: str,
) -> None:
    """All but the last words, then the connection closes before the finish: continued."""
    fault_server.set_fault("primary", Fault.cut_after(len(ANSWER.split()) - 2))
    model = chain(order, anthropic_hop, openai_hop)

    answer = streamed(model, "hi")

    assert answer.text == ANSWER
    assert answer.message.response_metadata["fallback"]["served_by"] == "backup"


class _BrokenParser(ChatOpenAI):
    """A ChatOpenAI whose response handling breaks, as an integration at odds with its SDK."""

    def _create_chat_result(self, response: Any, generation_info: Any = None) -> Any:
        raise TypeError("'NoneType' object is not iterable")


class _BrokenRequest(ChatAnthropic):
    """A ChatAnthropic whose request building breaks before anything is sent."""

    def _get_request_payload(self, *args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'Messages' object has no attribute 'stream_raw'")


def test_a_bug_before_the_request_raises_and_one_after_it_fails_over(
    fault_server: FaultServer, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops
) -> None:
    """Its request reported sent, a TypeError on the answer moves on; one before it raises."""
    after = _BrokenParser(
        model="primary",
        base_url=fault_server.base_url,
        api_key="t",
        max_retries=0,
        disable_streaming=True,
    )
    before = _BrokenRequest(
        model="primary",
        anthropic_api_url=fault_server.anthropic_base_url,
        api_key="t",
        max_retries=0,
    )
    served = FallbackChatModel(models=[ChatHop(after, name="p"), anthropic_hop("backup")])
    raised = FallbackChatModel(models=[ChatHop(before, name="p"), anthropic_hop("backup")])

    answer = served.invoke("hi")
    with pytest.raises(HopBugError) as caught:
        raised.invoke("hi")

    assert answer.text == ANSWER
    assert answer.response_metadata["fallback"]["attempts"][0]["category"] == "malformed"
    assert caught.value.hop == "p"
    assert fault_server.attempt_count("primary") == 1  # only the parser's request went out
    assert fault_server.attempt_count("backup") == 1
