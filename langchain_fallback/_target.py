"""A chat model as a hop target: one call's request, and its chunks as core deltas.

`ChatRequest` is what the core passes, unread, to every hop of one call.
`ModelTarget` streams one hop model for it - continuing the answer when the
core asks - and converts each `AIMessageChunk` into a `Delta`. What the core
does not carry (full usage details, the provider's response metadata, the
model name the provider reported) is written to the call's `CallLog`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping, Sequence
from contextlib import aclosing, closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata, add_usage

from fallback_core import (
    Continuation,
    Delta,
    ToolCallChunk,
    Usage,
    capped,
    output_cap,
    rough_tokens,
)
from fallback_core._toolkit import inner_chain

from ._direct import hop_astream, hop_stream
from ._history import for_model, thinking_for
from ._hops import FINISH_KEYS
from ._private import streams_only

if TYPE_CHECKING:
    from fallback_core import Chain

    from ._callbacks import HopScope
    from ._tools import HopBinding

__all__ = ["AttemptLog", "CallLog", "ChatRequest", "HopChunk", "ModelTarget", "continued"]


@dataclass(slots=True)
class AttemptLog:
    """What one attempt's chunks said beyond its deltas."""

    serial: int
    hop: str
    usage: UsageMetadata | None = None
    response_metadata: dict[str, Any] = field(default_factory=dict)
    model: str | None = None


class CallLog:
    """Per-call record of every attempt, written by the hop readers (possibly on threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: list[AttemptLog] = []

    def open(self, hop: str) -> AttemptLog:
        """Start the record of a new attempt on ``hop``."""
        with self._lock:
            attempt = AttemptLog(len(self._attempts), hop)
            self._attempts.append(attempt)
            return attempt

    def record(self, attempt: AttemptLog, message: BaseMessage) -> None:
        """Note ``message``'s usage, metadata and model name against ``attempt``."""
        usage = getattr(message, "usage_metadata", None)
        metadata = message.response_metadata
        if not (usage or metadata):
            return  # most chunks: nothing to note
        with self._lock:
            if usage:
                attempt.usage = add_usage(attempt.usage, usage)
            attempt.response_metadata.update(metadata)
            attempt.model = _reported_model(metadata) or attempt.model

    def usage(self) -> UsageMetadata | None:
        """Usage summed over every attempt that reported any."""
        total: UsageMetadata | None = None
        with self._lock:
            for attempt in self._attempts:
                if attempt.usage:
                    total = add_usage(total, attempt.usage)
        return total

    def last_attempt(self, hop: str | None) -> AttemptLog | None:
        """The latest attempt on ``hop``."""
        with self._lock:
            for attempt in reversed(self._attempts):
                if attempt.hop == hop:
                    return attempt
        return None


@dataclass(frozen=True, slots=True)
class HopChunk:
    """The ``native`` of every delta: the hop's own chunk and which attempt sent it."""

    attempt: int
    message: BaseMessage


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call as every hop receives it.

    ``kwargs`` are the caller's call options, passed to each hop unchanged;
    ``binding`` adds each hop's own form of bound tools or structured output;
    ``scope`` gives each hop its run config and callback isolation.
    """

    messages: tuple[BaseMessage, ...]
    stop: list[str] | None
    kwargs: Mapping[str, Any]
    binding: HopBinding | None
    scope: HopScope
    log: CallLog


def continued(
    messages: Sequence[BaseMessage], continuation: Continuation | None
) -> list[BaseMessage]:
    """The caller's messages, plus the partial answer (and instruction) to continue."""
    if continuation is None:
        return list(messages)
    tail: list[BaseMessage] = [AIMessage(continuation.message)]
    if not continuation.prefill:
        tail.append(HumanMessage(continuation.instruction))
    return [*messages, *tail]


class ModelTarget:
    """The hop target for one chat model: streams it and speaks deltas to the core."""

    def __init__(self, model: BaseChatModel, hop: str, reports_requests: bool = False) -> None:
        self.model = model
        self.name = hop
        #: Whether the model's clients report each request sent (see ``_private``).
        self.reports_requests = reports_requests

    def estimate_tokens(self, request: ChatRequest) -> int:
        """A rough size of the request's messages, for skipping hops too small for it."""
        return rough_tokens(*(str(message.content) for message in request.messages))

    def max_output_tokens(self, request: ChatRequest) -> int | None:
        """The cap on the answer's tokens (the call's option, else the model's)."""
        return output_cap(request.kwargs, self.model)

    @property
    def fallback_chain(self) -> Chain[Any] | None:
        """The chain inside the model, when the model is itself a FallbackChatModel."""
        return inner_chain(self.model)

    def _call(
        self, request: ChatRequest, continuation: Continuation | None
    ) -> tuple[BaseChatModel, list[BaseMessage], dict[str, Any]]:
        """The model to call (thinking off where Anthropic demands it), its messages and options."""
        kwargs = capped(request.kwargs, continuation)
        if request.binding is not None:
            kwargs.update(request.binding.kwargs_for(self.model, self.name))
        if continuation is not None and continuation.flags:
            # vLLM's options ride in the body; the model's own extra_body is kept.
            own = getattr(self.model, "extra_body", None) or {}
            kwargs["extra_body"] = {**own, **(kwargs.get("extra_body") or {}), **continuation.flags}
        messages = continued(for_model(request.messages, self.model), continuation)
        return thinking_for(self.model, messages, kwargs, self.name), messages, kwargs

    def reply(self, request: ChatRequest, continuation: Continuation | None) -> Iterator[Delta]:
        """The model's whole answer (its ``invoke``) as one delta, for a call nobody streams.

        A model whose SDK refuses to send this request unstreamed is streamed instead.
        """
        model, messages, kwargs = self._call(request, continuation)
        if streams_only(model, kwargs, is_async=False):
            yield from self.stream(request, continuation)
            return
        config = request.scope.config_for(self.name)
        attempt = request.log.open(self.name)
        with request.scope.starting():
            message = model.invoke(messages, config, stop=request.stop, **kwargs)
        request.log.record(attempt, message)
        yield to_delta(message, attempt.serial)

    async def areply(
        self, request: ChatRequest, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        """The async `reply` (the model's ``ainvoke``)."""
        model, messages, kwargs = self._call(request, continuation)
        if streams_only(model, kwargs, is_async=True):
            chunks = cast("AsyncGenerator[Delta, None]", self.astream(request, continuation))
            async with aclosing(chunks):
                async for delta in chunks:
                    yield delta
            return
        config = request.scope.config_for(self.name)
        attempt = request.log.open(self.name)
        with request.scope.starting():
            message = await model.ainvoke(messages, config, stop=request.stop, **kwargs)
        request.log.record(attempt, message)
        yield to_delta(message, attempt.serial)

    def stream(self, request: ChatRequest, continuation: Continuation | None) -> Iterator[Delta]:
        model, messages, kwargs = self._call(request, continuation)
        config = request.scope.config_for(self.name)
        if request.scope.callbacks is None:  # nothing observes the hop: its run may go
            chunks = hop_stream(model, messages, config, request.stop, kwargs)
        else:
            chunks = model.stream(messages, config, stop=request.stop, **kwargs)
        attempt = request.log.open(self.name)
        with closing(cast("Generator[BaseMessage, None, None]", chunks)):
            with request.scope.starting():
                first = next(chunks, None)
            if first is None:
                return
            request.log.record(attempt, first)
            yield to_delta(first, attempt.serial)
            for chunk in chunks:
                request.log.record(attempt, chunk)
                yield to_delta(chunk, attempt.serial)

    async def astream(
        self, request: ChatRequest, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        model, messages, kwargs = self._call(request, continuation)
        config = request.scope.config_for(self.name)
        if request.scope.callbacks is None:
            chunks = hop_astream(model, messages, config, request.stop, kwargs)
        else:
            chunks = model.astream(messages, config, stop=request.stop, **kwargs)
        attempt = request.log.open(self.name)
        async with aclosing(cast("AsyncGenerator[BaseMessage, None]", chunks)):
            with request.scope.starting():
                first = await anext(chunks, None)
            if first is None:
                return
            request.log.record(attempt, first)
            yield to_delta(first, attempt.serial)
            async for chunk in chunks:
                request.log.record(attempt, chunk)
                yield to_delta(chunk, attempt.serial)

    def __repr__(self) -> str:
        return f"ModelTarget({self.name!r}, {type(self.model).__name__})"


def to_delta(message: BaseMessage, attempt: int) -> Delta:
    """The core's view of one chunk (or, from a non-streaming model, one whole message)."""
    metadata = message.response_metadata
    finish = None
    if metadata:
        finish = next((metadata[k] for k in FINISH_KEYS if metadata.get(k)), None)
    usage = getattr(message, "usage_metadata", None)
    content = message.content
    if isinstance(content, str) and not message.additional_kwargs:
        text, reasoning, signature = content, "", ""  # a plain text chunk: no reasoning
    else:
        text = str(message.text)
        reasoning, signature = _reasoning(message)
    return Delta(
        text=text,
        reasoning=reasoning,
        signature=signature,
        tool_calls=_tool_calls(message),
        finish_reason=None if finish is None else str(finish),
        usage=None
        if not usage
        else Usage(
            usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")
        ),
        model=_reported_model(metadata) if metadata else None,
        native=HopChunk(attempt, message),
    )


def _reasoning(message: BaseMessage) -> tuple[str, str]:
    """A chunk's reasoning and signature, as its integration reports them.

    ChatAnthropic: ``thinking`` content blocks (their ``signature`` arrives in
    a block of its own); LangChain's standard ``reasoning`` blocks; and the
    ``reasoning_content`` additional kwarg of the OpenAI-compatible
    integrations that surface it (ChatOpenAI itself drops it).
    """
    texts, signatures = [], []
    content = message.content if isinstance(message.content, list) else []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking":
            texts.append(block.get("thinking") or "")
            signatures.append(block.get("signature") or "")
        elif block.get("type") == "reasoning":
            texts.append(block.get("reasoning") or "")
    extra = message.additional_kwargs.get("reasoning_content")
    if isinstance(extra, str):
        texts.append(extra)
    return "".join(texts), "".join(signatures)


def _tool_calls(message: BaseMessage) -> tuple[ToolCallChunk, ...]:
    if isinstance(message, AIMessageChunk):
        if not message.tool_call_chunks:
            return ()
        return tuple(
            ToolCallChunk(
                index=chunk.get("index") or 0,
                id=chunk.get("id"),
                name=chunk.get("name"),
                arguments=chunk.get("args") or "",
            )
            for chunk in message.tool_call_chunks
        )
    if isinstance(message, AIMessage):
        return tuple(
            ToolCallChunk(i, call.get("id"), call["name"], json.dumps(call["args"]))
            for i, call in enumerate(message.tool_calls)
        )
    return ()


def _reported_model(metadata: Mapping[str, Any]) -> str | None:
    for key in ("model_name", "model"):
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return None
