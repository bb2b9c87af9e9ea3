"""Calls nobody streams (``invoke``, ``batch``): hops without stall limits answer whole.

With no first-token or idle limit a hop's answer cannot be watched for a
stall, so when nobody reads tokens either, the hop is asked for its whole
reply - one non-streaming request, as the bare model's ``invoke`` sends. The
caller gets the same message as from a streamed hop: text, tool calls,
thinking, merged usage, the serving model and its finish reason.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel

from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import ChatHop, FallbackChatModel
from tests.reasoning import THINKING, THOUGHT

from .conftest import ANSWER, WEATHER_CALL, Answer, run_call
from .servers import AnthropicHops, OpenAIHops
from .test_callbacks import TreeTracer

NO_STALL_LIMITS: dict[str, Any] = {"first_token_timeout": None, "idle_timeout": None}
FAST = {"backoff": lambda n: 0.0}

Invoke = Callable[..., Answer]
Hops = Callable[..., Any]


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """Models sharing one answer; a tool caller; a reasoner that thinks before answering."""
    return {
        "primary": ModelScript(ANSWER),
        "backup": ModelScript(ANSWER),
        "tooler": ModelScript("It is sunny in Paris today.", tool_call=WEATHER_CALL),
        "thinker": ModelScript(ANSWER, reasoning=THOUGHT),
    }


@pytest.fixture(params=["invoke", "ainvoke"])
def invoked(request: pytest.FixtureRequest) -> Invoke:
    """Calls a runnable once through invoke or ainvoke."""
    return functools.partial(run_call, request.param)


@pytest.fixture(params=["openai", "anthropic"])
def hops(
    request: pytest.FixtureRequest, openai_hop: OpenAIHops, anthropic_hop: AnthropicHops
) -> Hops:
    """Makes real ``ChatOpenAI`` or ``ChatAnthropic`` models for the fault server."""
    return openai_hop if request.param == "openai" else anthropic_hop


def chain(hops: Hops, *names: str, **options: Any) -> FallbackChatModel:
    options = {**FAST, "max_retries": 0, **options}
    return FallbackChatModel(models=[ChatHop(hops(n), name=n) for n in names], **options)


def streamed(server: FaultServer) -> list[bool]:
    return [attempt.streamed for attempt in server.attempts()]


def new_event_loop_clients() -> None:
    """Let a second ``asyncio.run`` in one test build langchain-anthropic's clients anew."""
    from langchain_anthropic import _client_utils

    _client_utils._get_default_async_httpx_client.cache_clear()


def test_an_invoke_without_stall_limits_sends_one_whole_request(
    invoked: Invoke, hops: Hops, fault_server: FaultServer
) -> None:
    """With stall limits off the hop gets a non-streaming request; the answer is as streamed."""
    whole = invoked(chain(hops, "primary", "backup", **NO_STALL_LIMITS), "hi").message
    assert streamed(fault_server) == [False]
    fault_server.reset()
    new_event_loop_clients()
    streamed_answer = invoked(chain(hops, "primary", "backup"), "hi").message
    assert streamed(fault_server) == [True]

    assert whole.text == streamed_answer.text == ANSWER
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["output_tokens"] > 0
    assert whole.usage_metadata == streamed_answer.usage_metadata
    for key in ("model_name", "finish_reason"):
        assert whole.response_metadata[key] == streamed_answer.response_metadata[key]
    assert whole.response_metadata["model_name"] == "primary"
    assert not {"usage", "token_usage"} & set(whole.response_metadata)  # one attempt's counts
    assert whole.response_metadata["fallback"]["served_by"] == "primary"


def test_a_batch_without_stall_limits_answers_each_input_whole(
    openai_hop: OpenAIHops, fault_server: FaultServer
) -> None:
    """``batch`` is one invoke per input: each is a whole request."""
    model = chain(openai_hop, "primary", **NO_STALL_LIMITS)

    answers = model.batch(["hi", "hello"])

    assert [answer.text for answer in answers] == [ANSWER, ANSWER]
    assert streamed(fault_server) == [False, False]


def test_an_invoke_with_the_default_limits_streams(
    invoked: Invoke, hops: Hops, fault_server: FaultServer
) -> None:
    """The default first-token and idle limits watch the stream, so the hop still streams."""
    assert invoked(chain(hops, "primary"), "hi").text == ANSWER
    assert streamed(fault_server) == [True]


def test_an_invoke_that_reports_tokens_streams(
    invoked: Invoke, openai_hop: OpenAIHops, fault_server: FaultServer
) -> None:
    """``streaming=True`` reports each token to callbacks, so the hop streams them."""
    model = chain(openai_hop, "primary", streaming=True, **NO_STALL_LIMITS)
    assert invoked(model, "hi").text == ANSWER
    assert streamed(fault_server) == [True]


def test_an_invoke_inside_streamed_events_streams(
    openai_hop: OpenAIHops, fault_server: FaultServer
) -> None:
    """An invoke whose caller streams events (``astream_events``) streams its tokens to them."""
    model = chain(openai_hop, "primary", **NO_STALL_LIMITS)

    async def answer(text: str) -> str:
        return (await model.ainvoke(text)).text

    async def main() -> list[str]:
        events = RunnableLambda(answer).astream_events("hi", version="v2")
        chunks = [e async for e in events if e["event"] == "on_chat_model_stream"]
        return [e["data"]["chunk"].text for e in chunks]

    assert "".join(asyncio.run(main())) == ANSWER
    assert streamed(fault_server) == [True]


@pytest.mark.parametrize(
    "fault",
    [Fault.rate_limit(), Fault.server_error(500), Fault.reset_before_headers()],
    ids=["429", "500", "reset"],
)
def test_a_failed_whole_reply_is_answered_by_the_backup(
    invoked: Invoke, hops: Hops, fault_server: FaultServer, fault: Fault
) -> None:
    """A whole reply that fails is a failed attempt: the backup answers, whole too."""
    fault_server.set_fault("primary", fault)
    answer = invoked(chain(hops, "primary", "backup", **NO_STALL_LIMITS), "hi")

    assert answer.text == ANSWER
    assert answer.message.response_metadata["model_name"] == "backup"
    assert streamed(fault_server) == [False, False]
    assert [a["hop"] for a in answer.message.response_metadata["fallback"]["attempts"]] == [
        "primary",
        "backup",
    ]


def test_a_hung_whole_reply_is_bounded_by_the_attempt_timeout(
    invoked: Invoke, openai_hop: OpenAIHops, fault_server: FaultServer
) -> None:
    """A whole reply that never comes is cut by the hop's ``timeout``; the backup answers."""
    fault_server.set_fault("primary", Fault.no_response())
    model = chain(openai_hop, "primary", "backup", timeout=0.5, **NO_STALL_LIMITS)

    answer = invoked(model, "hi")

    assert answer.text == ANSWER
    assert answer.message.response_metadata["model_name"] == "backup"
    assert streamed(fault_server) == [False, False]


def test_a_tool_call_comes_whole(invoked: Invoke, hops: Hops, fault_server: FaultServer) -> None:
    """A bound tool's call arrives complete from a whole reply, as from a stream."""

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}."

    model = chain(hops, "tooler", **NO_STALL_LIMITS).bind_tools([get_weather])

    message = invoked(model, "What is the weather in Paris?").message

    assert streamed(fault_server) == [False]
    (call,) = message.tool_calls
    assert (call["name"], call["args"]) == WEATHER_CALL
    assert message.response_metadata["finish_reason"] in ("tool_calls", "tool_use")


class Weather(BaseModel):
    """The weather in a city."""

    city: str


def test_structured_output_comes_whole(
    invoked: Invoke, hops: Hops, fault_server: FaultServer
) -> None:
    """Structured output is parsed from the whole reply's tool call."""
    model = chain(hops, "primary", **NO_STALL_LIMITS).with_structured_output(Weather)

    answer = invoked(model, "The weather in Paris, please.").message

    assert isinstance(answer, Weather)
    assert streamed(fault_server) == [False]


def test_thinking_and_its_signature_come_whole_as_streamed(
    invoked: Invoke, anthropic_hop: AnthropicHops, fault_server: FaultServer
) -> None:
    """ChatAnthropic's signed thinking block comes from a whole reply as from a stream."""

    def thinker(**limits: Any) -> FallbackChatModel:
        hop = anthropic_hop("thinker", thinking=THINKING, max_tokens=2048)
        return FallbackChatModel(models=[ChatHop(hop, name="thinker")], **limits)

    whole = invoked(thinker(**NO_STALL_LIMITS), "hi").message
    new_event_loop_clients()
    streamed_answer = invoked(thinker(), "hi").message

    assert streamed(fault_server) == [False, True]
    assert whole.content == streamed_answer.content
    (thought, text) = whole.content
    assert isinstance(thought, dict)
    assert thought["thinking"] == THOUGHT
    assert thought["signature"]
    assert isinstance(text, dict)
    assert text["text"] == ANSWER


def test_a_claude_hop_the_sdk_will_not_call_unstreamed_streams(
    invoked: Invoke, anthropic_hop: AnthropicHops, fault_server: FaultServer
) -> None:
    """With the SDK's default timeout and a large ``max_tokens`` the anthropic SDK refuses a
    non-streaming request; such a hop streams instead, and the call is answered."""
    hop = anthropic_hop("primary", default_request_timeout=0, max_tokens=64000)
    with pytest.raises(ValueError, match="Streaming is required"):
        hop.invoke("hi")  # the bare model's invoke: refused before anything is sent
    model = FallbackChatModel(models=[ChatHop(hop, name="primary")], **NO_STALL_LIMITS)

    assert invoked(model, "hi").text == ANSWER
    assert streamed(fault_server) == [True]

    new_event_loop_clients()
    small = anthropic_hop("primary", default_request_timeout=0, max_tokens=1024)
    small_model = FallbackChatModel(models=[ChatHop(small, name="primary")], **NO_STALL_LIMITS)
    assert invoked(small_model, "hi").text == ANSWER
    assert streamed(fault_server) == [True, False]


def test_a_nested_chain_hop_answers_whole_too(
    invoked: Invoke, openai_hop: OpenAIHops, fault_server: FaultServer
) -> None:
    """A FallbackChatModel hop gives its whole reply by its own invoke, itself whole."""
    inner = chain(openai_hop, "primary", "backup", **NO_STALL_LIMITS)
    fault_server.set_fault("primary", Fault.server_error(500))
    outer = FallbackChatModel(models=[ChatHop(inner, name="inner")], **NO_STALL_LIMITS)

    answer = invoked(outer, "hi").message

    assert answer.text == ANSWER
    assert answer.response_metadata["model_name"] == "backup"
    assert streamed(fault_server) == [False, False]


def test_a_whole_reply_is_a_child_run_with_nested_runs(
    invoked: Invoke, openai_hop: OpenAIHops, fault_server: FaultServer
) -> None:
    """With ``nested_runs`` each whole reply is a child run that ends with its answer."""
    fault_server.set_fault("primary", Fault.server_error(500))
    model = chain(openai_hop, "primary", "backup", nested_runs=True, **NO_STALL_LIMITS)
    tracer = TreeTracer()

    invoked(model, "hi", {"callbacks": [tracer]})

    (root,) = tracer.roots
    assert [child.name for child in root.child_runs] == ["primary", "backup"]
    failed, served = root.child_runs
    assert failed.error is not None
    assert served.outputs is not None
    (generation,) = served.outputs["generations"][0]
    assert AIMessage(**generation["message"]["kwargs"]).text == ANSWER
    assert streamed(fault_server) == [False, False]
