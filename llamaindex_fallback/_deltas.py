"""Reading a hop's LlamaIndex stream as core `Delta` values.

LlamaIndex streams are cumulative: each ``ChatResponse`` (or
``CompletionResponse``) holds everything so far plus the new ``delta``. A
`Delta` holds only what is new: the text delta, and the finish reason and usage
found in the provider's ``raw`` chunk, and the reasoning (see `_thinking`).
Each delta's ``native`` is a `HopResponse`: the hop's response, and which
stream (attempt) it came from.

Tool calls are read from the provider-neutral ``ToolCallBlock``s of the
cumulative message. Providers disagree on how partial arguments look (a
growing JSON string, a re-parsed dict), so while a call streams each change is
sent as a fragment with the call's id and name but no arguments - the shape of
OpenAI's first tool-call chunk, and enough for the chain to see the hop is
alive - and its complete arguments follow in one fragment when the hop
finishes. Fragments with the same index join, so the chain assembles each
call whole.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from llama_index.core.base.llms.types import (
    ChatResponse,
    CompletionResponse,
    ContentBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from fallback_core import Delta, ToolCallChunk, Usage

from ._clients import suspended_streams
from ._thinking import ThinkingReader

__all__ = ["DeltaReader", "HopResponse", "finish_reason_of", "usage_of", "whole_delta"]

_STREAMS = itertools.count()


class HopResponse(NamedTuple):
    """The ``native`` of every delta: the hop's own response, and the stream that sent it."""

    response: ChatResponse | CompletionResponse
    stream: int


class DeltaReader:
    """Turns one hop's cumulative responses into deltas; one reader per stream."""

    __slots__ = ("_calls", "_calls_sent", "_model", "_stream", "_text", "_thinking")

    def __init__(self, model: str | None) -> None:
        self._model = model
        self._stream = next(_STREAMS)
        self._thinking = ThinkingReader()
        self._text = ""
        self._calls: tuple[ToolCallChunk, ...] = ()  # complete view, as of the last response
        self._calls_sent = False

    def read(self, responses: Iterator[Any]) -> Iterator[Delta]:
        """The deltas of a sync stream; closing them closes the hop's stream.

        An integration's generator, closed before its end, may leave the SDK
        stream under it open (LlamaIndex's OpenAI one does): the garbage
        collector would finalize it later - possibly inside httpcore's pool
        lock on the same thread, which deadlocks it (encode/httpcore#990). So
        the SDK streams suspended under an abandoned generator are closed here.
        """
        ended = False
        try:
            for response in responses:
                yield self.delta(response)
            ended = True
            tail = self.tail()
            if tail is not None:
                yield tail
        finally:
            left_open = () if ended else suspended_streams(responses)
            close = getattr(responses, "close", None)
            if close is not None:
                close()
            for stream in left_open:
                stream.close()

    async def aread(self, responses: AsyncIterator[Any]) -> AsyncIterator[Delta]:
        """The deltas of an async stream; closing them closes the hop's stream."""
        try:
            async for response in responses:
                yield self.delta(response)
            tail = self.tail()
            if tail is not None:
                yield tail
        finally:
            aclose = getattr(responses, "aclose", None)
            if aclose is not None:
                await aclose()

    def delta(self, response: ChatResponse | CompletionResponse) -> Delta:
        """What ``response`` adds to the ones before it."""
        calls: tuple[ToolCallChunk, ...] = ()
        if isinstance(response, ChatResponse):
            message = response.message
            so_far = message.content or ""
            blocks = message.blocks
            plain = _only_text(blocks)  # the common chunk: no tool call, no thinking block
            if not plain:
                calls = self._progress(_tool_calls_in(blocks))
            reasoning, signature = self._thinking.read(response, blocks=not plain)
        else:
            so_far = response.text or ""
            reasoning, signature = self._thinking.read(response)
        if response.delta is not None:
            text = response.delta
        else:  # no delta given: the difference from the last cumulative text
            text = so_far[len(self._text) :] if so_far.startswith(self._text) else ""
        self._text = so_far
        raw = response.raw
        finish = finish_reason_of(raw)
        if finish is not None:
            calls += self._arguments()
        return Delta(
            text=text,
            reasoning=reasoning,
            signature=signature,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage_of(response),
            model=_string(_field(raw, "model")) or self._model,
            native=HopResponse(response, self._stream),
        )

    def tail(self) -> Delta | None:
        """After the last response: arguments not yet sent (the hop reported no finish)."""
        calls = self._arguments()
        return Delta(tool_calls=calls, model=self._model) if calls else None

    def _progress(self, now: tuple[ToolCallChunk, ...]) -> tuple[ToolCallChunk, ...]:
        """An argument-less fragment for each tool call that changed since the last response."""
        if not now:
            return ()
        before = dict(enumerate(self._calls))
        self._calls = now
        return tuple(ToolCallChunk(c.index, c.id, c.name) for c in now if before.get(c.index) != c)

    def _arguments(self) -> tuple[ToolCallChunk, ...]:
        """Each tool call's complete arguments, once."""
        if self._calls_sent:
            return ()
        self._calls_sent = True
        return tuple(ToolCallChunk(c.index, arguments=c.arguments) for c in self._calls)


def whole_delta(response: ChatResponse | CompletionResponse, model: str | None) -> Delta:
    """A hop's whole (non-streamed) response as one delta: the complete answer.

    Its reasoning is the message's ``ThinkingBlock``s (their signatures joined).
    """
    reasoning = signature = ""
    calls: tuple[ToolCallChunk, ...] = ()
    if isinstance(response, ChatResponse):
        text = response.message.content or ""
        calls = tool_calls_of(response)
        thoughts = [b for b in response.message.blocks if isinstance(b, ThinkingBlock)]
        reasoning = "".join(b.content or "" for b in thoughts)
        signature = "".join(str(b.additional_information.get("signature") or "") for b in thoughts)
    else:
        text = response.text or ""
    raw = response.raw
    return Delta(
        text=text,
        reasoning=reasoning,
        signature=signature,
        tool_calls=calls,
        finish_reason=finish_reason_of(raw),
        usage=usage_of(response),
        model=_string(_field(raw, "model")) or model,
        native=HopResponse(response, next(_STREAMS)),
    )


def tool_calls_of(response: ChatResponse) -> tuple[ToolCallChunk, ...]:
    """The tool calls in ``response``'s message, as complete chunks indexed in order."""
    return _tool_calls_in(response.message.blocks)


def _tool_calls_in(blocks: Sequence[ContentBlock]) -> tuple[ToolCallChunk, ...]:
    calls = [b for b in blocks if isinstance(b, ToolCallBlock)]
    return tuple(
        ToolCallChunk(
            index=i,
            id=block.tool_call_id,
            name=block.tool_name,
            arguments=block.tool_kwargs
            if isinstance(block.tool_kwargs, str)
            else json.dumps(block.tool_kwargs),
        )
        for i, block in enumerate(calls)
    )


def _only_text(blocks: Sequence[ContentBlock]) -> bool:
    """Whether ``blocks`` are text blocks only."""
    if len(blocks) == 1:  # the common chunk, told without a generator
        return type(blocks[0]) is TextBlock
    return all(type(block) is TextBlock for block in blocks)


def finish_reason_of(raw: Any) -> str | None:
    """The finish reason in a provider's raw chunk or response, if it carries one.

    Understands OpenAI-style chunks (``choices[0].finish_reason``), Anthropic
    events (``delta.stop_reason``) and the top-level ``stop_reason`` /
    ``done_reason`` / ``finish_reason`` other providers use; objects or dicts.
    """
    if raw is None:
        return None
    choices = _field(raw, "choices")
    if isinstance(choices, (list, tuple)) and choices:  # OpenAI-shaped: nothing else says it
        return _string(_field(choices[0], "finish_reason"))
    reason = _string(_field(_field(raw, "delta"), "stop_reason"))
    if reason:
        return reason
    for key in ("stop_reason", "done_reason", "finish_reason"):
        reason = _string(_field(raw, key))
        if reason:
            return reason
    return None


def usage_of(response: ChatResponse | CompletionResponse) -> Usage | None:
    """Token counts reported with ``response``: its token-count kwargs, else ``raw.usage``."""
    counts = _usage_from(response.additional_kwargs)
    if counts is None:
        counts = _usage_from(_field(response.raw, "usage"))
    return counts


def _usage_from(source: Any) -> Usage | None:
    if not source:  # None, or no kwargs at all: the common chunk
        return None
    read = {
        key: value
        for key in (
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "input_tokens",
            "output_tokens",
        )
        if isinstance(value := _field(source, key), int) and not isinstance(value, bool)
    }
    if not read:
        return None
    prompt = read.get("prompt_tokens", read.get("input_tokens"))
    completion = read.get("completion_tokens", read.get("output_tokens"))
    total = read.get("total_tokens")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return Usage(prompt, completion, total)


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
