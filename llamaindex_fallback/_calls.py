"""One call of a `FallbackLLM`: its request, and the chain walked for it.

A non-streaming call folds the chain's deltas into one response, and asks
the chain for whole replies (``whole=True``): a hop with no stall limits is
called through its non-streaming method. The LlamaIndex span active when the
call is made is captured in the request, because a streaming call's span has
ended by the time its stream is read: hop events and the hops' own spans are filed under it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.instrumentation.span import active_span_id

from fallback_core import Chain, ChainTrace, Hook

from ._events import HopEventDispatch
from ._responses import Answer
from ._target import LLMRequest, ToolSpec

__all__ = ["Call", "chat_request", "completion_request"]

R = TypeVar("R", ChatResponse, CompletionResponse)
Respond = Callable[[Answer, "str | None", "ChainTrace | None"], R]


def chat_request(
    messages: Sequence[ChatMessage], tools: ToolSpec | None, kwargs: dict[str, Any]
) -> LLMRequest:
    """A chat request (with tools, if given) made inside the current span."""
    return LLMRequest(
        "chat",
        messages=tuple(messages),
        tools=tools,
        kwargs=MappingProxyType(kwargs),
        span_id=active_span_id.get(),
    )


def completion_request(prompt: str, formatted: bool, kwargs: dict[str, Any]) -> LLMRequest:
    """A completion request made inside the current span."""
    return LLMRequest(
        "complete",
        prompt=prompt,
        formatted=formatted,
        kwargs=MappingProxyType(kwargs),
        span_id=active_span_id.get(),
    )


class Call:
    """Walks ``chain`` for one request, reporting each step as a `FallbackHopEvent`."""

    __slots__ = ("_chain", "_hooks", "_request")

    def __init__(self, chain: Chain[LLMRequest], llm_name: str, request: LLMRequest) -> None:
        self._chain = chain
        self._request = request
        self._hooks: list[Hook] = [HopEventDispatch(llm_name, request.span_id)]

    def fold(self) -> tuple[Answer, ChainTrace]:
        """The whole answer and the call's trace."""
        answer = Answer()
        with self._chain.stream(self._request, hooks=self._hooks, whole=True) as stream:
            for delta in stream:
                answer.add(delta)
        return answer, stream.trace

    async def afold(self) -> tuple[Answer, ChainTrace]:
        """The whole answer and the call's trace, on the running event loop."""
        answer = Answer()
        async with self._chain.astream(self._request, hooks=self._hooks, whole=True) as stream:
            async for delta in stream:
                answer.add(delta)
        return answer, stream.trace

    def stream(self, respond: Respond[R]) -> Generator[R, None, None]:
        """A cumulative response per delta, then a closing one carrying the trace."""
        answer = Answer()
        with self._chain.stream(self._request, hooks=self._hooks) as stream:
            for delta in stream:
                answer.add(delta)
                yield respond(answer, delta.text, None)
        yield respond(answer, "", stream.trace)

    async def astream(self, respond: Respond[R]) -> AsyncGenerator[R, None]:
        """`stream`, on the running event loop."""
        answer = Answer()
        async with self._chain.astream(self._request, hooks=self._hooks) as stream:
            async for delta in stream:
                answer.add(delta)
                yield respond(answer, delta.text, None)
        yield respond(answer, "", stream.trace)
