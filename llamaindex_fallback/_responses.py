"""Rebuilding LlamaIndex's cumulative responses from the deltas a chain delivers.

Every streamed response holds the whole answer so far - text delivered by
earlier hops included - and the new ``delta``. Once the stream has ended, one
closing response (``delta=""``) carries the complete message, the token counts
and the call's trace: ``additional_kwargs["fallback"]`` is
`ChainTrace.to_dict()`, naming the hop and model that served the answer.
``raw`` is the provider's own chunk from the hop that produced the delta.
Where the hop's own streamed response already is exactly that response (its
text so far is all the answer's, nothing else to add), it is passed on as it
is rather than built again.

Tool calls are carried as LlamaIndex's provider-neutral ``ToolCallBlock``s, so
the message can be sent back to any hop in the next turn; reasoning as
``ThinkingBlock``s ahead of the text and a ``thinking_delta`` (see `_thinking`).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ContentBlock,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)

from fallback_core import ChainTrace, Delta, ToolCallChunk

from ._deltas import HopResponse
from ._thinking import THINKING_DELTA, Thoughts

__all__ = ["TRACE_KEY", "Answer"]

TRACE_KEY = "fallback"


class Answer:
    """The answer so far: reasoning, text, tool calls, and the last provider chunk seen."""

    __slots__ = ("_calls", "_parts", "_raw", "_response", "_thoughts")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._calls: dict[int, ToolCallChunk] = {}
        self._raw: Any = None
        self._response: ChatResponse | CompletionResponse | None = None  # the last delta's
        self._thoughts = Thoughts()

    def add(self, delta: Delta) -> None:
        """Take one delivered delta."""
        if delta.text:
            self._parts.append(delta.text)
        for call in delta.tool_calls:
            seen = self._calls.get(call.index)
            if seen is not None:
                call = ToolCallChunk(
                    call.index,
                    seen.id or call.id,
                    seen.name or call.name,
                    seen.arguments + call.arguments,
                )
            self._calls[call.index] = call
        native = delta.native
        if isinstance(native, HopResponse):
            self._response = native.response
            self._raw = native.response.raw
            self._thoughts.add(delta, native.stream)
        else:
            self._response = None

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def chat(self, delta: str | None, trace: ChainTrace | None = None) -> ChatResponse:
        """A cumulative chat response whose new text is ``delta``."""
        if trace is None and isinstance(same := self._as_is(delta), ChatResponse):
            return same
        blocks: list[ContentBlock] = [*self._thoughts.blocks(), TextBlock(text=self.text)]
        blocks += [
            ToolCallBlock(tool_call_id=c.id, tool_name=c.name or "", tool_kwargs=c.arguments)
            for _, c in sorted(self._calls.items())
        ]
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks),
            delta=delta,
            raw=self._raw,
            additional_kwargs=self._kwargs(trace),
        )

    def completion(self, delta: str | None, trace: ChainTrace | None = None) -> CompletionResponse:
        """A cumulative completion response whose new text is ``delta``."""
        if trace is None and isinstance(same := self._as_is(delta), CompletionResponse):
            return same
        return CompletionResponse(
            text=self.text, delta=delta, raw=self._raw, additional_kwargs=self._kwargs(trace)
        )

    def _as_is(self, delta: str | None) -> ChatResponse | CompletionResponse | None:
        """The last delta's hop response if it is the streamed response to give, else None.

        It is when it holds just what `chat` / `completion` would put in one:
        the answer's whole text and ``delta``, the same ``raw``, no reasoning,
        tool call, log probabilities or other kwargs (the common chunk of a
        healthy first hop).
        """
        response = self._response
        if (
            response is None
            or response.delta != delta
            or response.additional_kwargs
            or response.logprobs is not None
            or self._calls
            or self._thoughts.any
        ):
            return None
        if type(response) is CompletionResponse:
            return response if response.text == self.text else None
        if type(response) is not ChatResponse:
            return None
        message = response.message
        if (
            type(message) is not ChatMessage
            or message.role is not MessageRole.ASSISTANT
            or message.additional_kwargs
            or len(blocks := message.blocks) != 1
            or type(block := blocks[0]) is not TextBlock
            or block.text != self.text
        ):
            return None
        return response

    def _kwargs(self, trace: ChainTrace | None) -> dict[str, Any]:
        """A streamed response's new reasoning, or the closing one's counts and trace."""
        if trace is None:
            latest = self._thoughts.latest
            return {THINKING_DELTA: latest} if latest else {}
        return _closing_kwargs(trace)


def _closing_kwargs(trace: ChainTrace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    usage = trace.usage
    if usage is not None:
        kwargs["prompt_tokens"] = usage.input_tokens
        kwargs["completion_tokens"] = usage.output_tokens
        kwargs["total_tokens"] = usage.total_tokens
    kwargs[TRACE_KEY] = trace.to_dict()
    return kwargs
