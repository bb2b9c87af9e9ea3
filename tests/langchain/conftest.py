"""Fixtures for the LangChain adapter's tests: one test body, every way of calling a model.

`call` runs a runnable once through ``invoke``, ``ainvoke``, ``stream`` or
``astream`` (the fixture is parametrised over all four) and returns the
`Answer`: the merged message and the chunks the caller received.
"""

from __future__ import annotations

import os

os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

import asyncio
import functools
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.runnables import Runnable, RunnableConfig

from fallback_core.testing import FaultServer, ModelScript
from fallback_core.testing.pytest_plugin import fault_server  # noqa: F401

from .servers import AnthropicHops, OpenAIHops

ANSWER = (
    "Fallback chains keep a pipeline answering when one provider stumbles, "
    "and the caller sees one answer with nothing lost or repeated."
)
WEATHER_CALL = ("get_weather", {"city": "Paris"})


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """Models sharing one answer, so any of them can finish another's; and a tool caller."""
    return {
        "primary": ModelScript(ANSWER),
        "backup": ModelScript(ANSWER),
        "third": ModelScript(ANSWER),
        "repeater": ModelScript(ANSWER, repeat_words=3),
        "tooler": ModelScript("It is sunny in Paris today.", tool_call=WEATHER_CALL),
        "tooler-backup": ModelScript("It is sunny in Paris today.", tool_call=WEATHER_CALL),
    }


@dataclass
class Answer:
    """What one call delivered: the whole message, and the chunks as the caller got them."""

    message: AIMessage
    chunks: list[AIMessageChunk]

    @property
    def text(self) -> str:
        return self.message.text


Call = Callable[..., Answer]
KINDS = ("invoke", "ainvoke", "stream", "astream")


def merged(chunks: list[AIMessageChunk]) -> AIMessage:
    """The message a stream of chunks adds up to."""
    message: BaseMessage = message_chunk_to_message(functools.reduce(operator.add, chunks))
    assert isinstance(message, AIMessage)
    return message


def run_call(
    kind: str,
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None = None,
    **kwargs: Any,
) -> Answer:
    """Call ``runnable`` once, the ``kind`` way."""
    if kind == "invoke":
        message = runnable.invoke(input, config, **kwargs)
        return Answer(message, [message])
    if kind == "stream":
        chunks = list(runnable.stream(input, config, **kwargs))
        return Answer(merged(chunks), chunks)

    async def main() -> Answer:
        if kind == "ainvoke":
            message = await runnable.ainvoke(input, config, **kwargs)
            return Answer(message, [message])
        chunks = [chunk async for chunk in runnable.astream(input, config, **kwargs)]
        return Answer(merged(chunks), chunks)

    return asyncio.run(main())


@pytest.fixture(params=KINDS)
def call(request: pytest.FixtureRequest) -> Call:
    """Calls a runnable once through invoke, ainvoke, stream or astream."""
    return functools.partial(run_call, request.param)


@pytest.fixture(params=["stream", "astream"])
def streamed(request: pytest.FixtureRequest) -> Call:
    """Calls a runnable once through stream or astream."""
    return functools.partial(run_call, request.param)


@pytest.fixture
def openai_hop(fault_server: FaultServer) -> Iterator[OpenAIHops]:  # noqa: F811
    """Makes ``ChatOpenAI`` models that talk to the test's fault server."""
    hops = OpenAIHops(fault_server)
    yield hops
    hops.close()


@pytest.fixture
def anthropic_hop(fault_server: FaultServer) -> AnthropicHops:  # noqa: F811
    """Makes ``ChatAnthropic`` models that talk to the test's fault server."""
    return AnthropicHops(fault_server)


@pytest.fixture(autouse=True)
def fresh_anthropic_clients() -> Iterator[None]:
    """Each test gets langchain-anthropic's default httpx clients anew.

    langchain-anthropic caches them per base URL for the life of the process.
    A test's fault server may get a port an earlier test's server had, and the
    cached async client would then reuse keep-alive connections to that gone
    server, opened on that test's event loop, and fail with a connection error.
    """
    yield
    try:
        from langchain_anthropic import _client_utils
    except ImportError:  # pragma: no cover - langchain-anthropic is in the dev group
        return
    _client_utils._get_default_httpx_client.cache_clear()
    _client_utils._get_default_async_httpx_client.cache_clear()
