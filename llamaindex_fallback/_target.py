"""One LlamaIndex LLM as a hop target: the request every hop receives, and how a hop is called.

A hop is called through its streaming method - ``stream_chat``,
``stream_complete`` or ``stream_chat_with_tools`` and their async twins - so
the chain sees every chunk and can continue a broken answer; when the chain
asks for a whole reply (a non-streamed call and a hop with no stall limits),
through the matching non-streaming method (``chat``, ``complete``,
``chat_with_tools``). The hop formats
tools its own way: the request carries LlamaIndex tool objects, never a
provider's format.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.base.llms.types import ChatMessage, LLMMetadata, MessageRole
from llama_index.core.instrumentation.span import active_span_id
from llama_index.core.llms import LLM
from llama_index.core.llms.function_calling import FunctionCallingLLM

from fallback_core import (
    ConfigurationError,
    Continuation,
    Delta,
    capped,
    output_cap,
    rough_tokens,
)
from fallback_core._toolkit import inner_chain

from ._clients import asks_for_usage, streams_only, usage_options, watch_llm_requests
from ._deltas import DeltaReader, whole_delta
from ._history import reader_for, sanitise, thinking_options

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

    from fallback_core import Chain

__all__ = ["LLMRequest", "LLMTarget", "ToolSpec", "continuation_messages", "model_name"]

_UNKNOWN_MODEL = LLMMetadata.model_fields["model_name"].default


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """The tools offered with a chat, and how the hop may use them."""

    tools: tuple[BaseTool, ...]
    verbose: bool = False
    allow_parallel_tool_calls: bool = False
    tool_required: bool = False


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One call of a `FallbackLLM`, as every hop receives it.

    ``operation`` is ``"chat"`` (``messages``, and ``tools`` when set) or
    ``"complete"`` (``prompt``, ``formatted``). ``span_id`` is the LlamaIndex
    span active when the call was made: hops are called inside it.
    """

    operation: Literal["chat", "complete"]
    messages: tuple[ChatMessage, ...] = ()
    prompt: str = ""
    formatted: bool = False
    tools: ToolSpec | None = None
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    span_id: str | None = None


class LLMTarget:
    """Calls one LLM for a `LLMRequest` and streams its answer as `Delta` values.

    Holds no per-call state, so one target serves concurrent calls. Each call
    gets its own copy of the messages: a hop that edits them (some integrations
    do) cannot change what the next hop is sent.
    """

    __slots__ = ("asks_for_usage", "history", "is_chat_model", "llm", "name", "reports_requests")

    def __init__(
        self, llm: LLM, metadata: LLMMetadata, *, stream_usage: bool | None = None
    ) -> None:
        self.llm = llm
        self.is_chat_model = metadata.is_chat_model
        #: Whether each call asks the LLM to stream its token usage (see ``_clients``).
        self.asks_for_usage = asks_for_usage(llm, stream_usage)
        #: Whether the LLM's clients report each request sent (its first-token wait then
        #: starts there): its sync and async clients are both watched now; an LLM that
        #: makes new clients per call cannot be.
        self.reports_requests = all(watch_llm_requests(llm, is_async=a) for a in (False, True))
        #: The LLM's model name (else its class name), used when its hop is given no name.
        self.name = model_name(metadata) or llm.class_name()
        #: Which provider-only state in a conversation the LLM may be sent (see ``_history``).
        self.history = reader_for(llm, model_name(metadata))

    def estimate_tokens(self, request: LLMRequest) -> int:
        """A rough size of the request, for skipping hops too small for it."""
        if request.operation == "complete":
            return rough_tokens(request.prompt)
        return rough_tokens(*(message.content or "" for message in request.messages))

    def max_output_tokens(self, request: LLMRequest) -> int | None:
        """The cap on the answer's tokens (the call's option, else the LLM's), for ``max_cost``."""
        return output_cap(request.kwargs, self.llm)

    @property
    def fallback_chain(self) -> Chain[Any] | None:
        """The chain inside the LLM, when it is itself a `FallbackLLM`."""
        return inner_chain(self.llm)

    def stream(self, request: LLMRequest, continuation: Continuation | None) -> Iterator[Delta]:
        """The hop's deltas; the LLM is called on the first read, where the chain times it."""
        watch_llm_requests(self.llm, is_async=False)
        with _inside_span(request.span_id):
            responses = self._call(request, continuation)
        yield from DeltaReader(self.name).read(responses)

    async def astream(
        self, request: LLMRequest, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        """The hop's deltas, on the running event loop."""
        watch_llm_requests(self.llm, is_async=True)
        with _inside_span(request.span_id):
            responses = await self._acall(request, continuation)
        async for delta in DeltaReader(self.name).aread(responses):
            yield delta

    def reply(self, request: LLMRequest, continuation: Continuation | None) -> Iterator[Delta]:
        """The hop's whole reply as one delta, from its non-streaming call.

        A hop whose SDK refuses that call (Anthropic's, for a ``max_tokens``
        that may take over ten minutes) streams instead.
        """
        if streams_only(
            self._llm_for(continuation), self._kwargs(request, whole=True), is_async=False
        ):
            yield from self.stream(request, continuation)
            return
        watch_llm_requests(self.llm, is_async=False)
        with _inside_span(request.span_id):
            response = self._call(request, continuation, whole=True)
        yield whole_delta(response, self.name)

    async def areply(
        self, request: LLMRequest, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        """`reply`, on the running event loop."""
        if streams_only(
            self._llm_for(continuation), self._kwargs(request, whole=True), is_async=True
        ):
            async for delta in self.astream(request, continuation):
                yield delta
            return
        watch_llm_requests(self.llm, is_async=True)
        with _inside_span(request.span_id):
            response = await self._acall(request, continuation, whole=True)
        yield whole_delta(response, self.name)

    # -- calling the LLM ------------------------------------------------------

    def _call(self, request: LLMRequest, cont: Continuation | None, whole: bool = False) -> Any:
        """The LLM's stream (its whole response with ``whole``) for the request."""
        llm = self._llm_for(cont)
        kwargs = capped(self._kwargs(request, whole=whole), cont)
        if self._continues_text(request, cont):
            assert cont is not None
            prompt = self._prompt(request) + cont.message
            return _method(llm, "complete", whole)(prompt, formatted=True, **kwargs)
        kwargs = _with_flags(kwargs, cont)
        if request.operation == "complete" and cont is None:
            complete = _method(llm, "complete", whole)
            return complete(request.prompt, formatted=request.formatted, **kwargs)
        messages = self._messages(request, cont)
        kwargs = thinking_options(llm, self.history, messages, kwargs, self.name)
        if request.tools is not None:
            return _method(_with_tools(llm), "chat_with_tools", whole)(
                list(request.tools.tools),
                chat_history=messages,
                **_tool_options(request.tools),
                **kwargs,
            )
        return _method(llm, "chat", whole)(messages, **kwargs)

    async def _acall(
        self, request: LLMRequest, cont: Continuation | None, whole: bool = False
    ) -> Any:
        """`_call`, on the running event loop."""
        llm = self._llm_for(cont)
        kwargs = capped(self._kwargs(request, whole=whole), cont)
        if self._continues_text(request, cont):
            assert cont is not None
            prompt = self._prompt(request) + cont.message
            return await _amethod(llm, "complete", whole)(prompt, formatted=True, **kwargs)
        kwargs = _with_flags(kwargs, cont)
        if request.operation == "complete" and cont is None:
            complete = _amethod(llm, "complete", whole)
            return await complete(request.prompt, formatted=request.formatted, **kwargs)
        messages = self._messages(request, cont)
        kwargs = thinking_options(llm, self.history, messages, kwargs, self.name)
        if request.tools is not None:
            return await _amethod(_with_tools(llm), "chat_with_tools", whole)(
                list(request.tools.tools),
                chat_history=messages,
                **_tool_options(request.tools),
                **kwargs,
            )
        return await _amethod(llm, "chat", whole)(messages, **kwargs)

    def _llm_for(self, cont: Continuation | None) -> LLM:
        """The LLM, or for a capped continuation a copy whose own cap is what is left.

        LlamaIndex's OpenAI LLMs let their ``max_tokens`` field win over a call
        option, so lowering the cap in the call's options alone would not do.
        """
        llm = self.llm
        if cont is None or cont.max_tokens is None or getattr(llm, "max_tokens", None) is None:
            return llm
        return llm.model_copy(update={"max_tokens": cont.max_tokens})

    def _kwargs(self, request: LLMRequest, whole: bool = False) -> dict[str, Any]:
        """The call's keywords: the caller's, after what the hop asks of its client.

        A non-streaming call reports its usage unasked (and OpenAI refuses
        ``stream_options`` there).
        """
        if whole or not self.asks_for_usage:
            return dict(request.kwargs)
        return {**usage_options(), **request.kwargs}

    def _continues_text(self, request: LLMRequest, cont: Continuation | None) -> bool:
        """A completion model continues a prefill natively: the prompt, then the text so far."""
        return cont is not None and cont.prefill and not self.is_chat_model

    def _prompt(self, request: LLMRequest) -> str:
        """The request as one prompt in the LLM's own template."""
        if request.operation == "complete":
            return self._completion_prompt(request)
        to_prompt = self.llm.messages_to_prompt
        assert to_prompt is not None  # LLM's validator always sets one
        return to_prompt(_copies(request.messages))

    def _completion_prompt(self, request: LLMRequest) -> str:
        if request.formatted:
            return request.prompt
        to_prompt = self.llm.completion_to_prompt
        assert to_prompt is not None  # LLM's validator always sets one
        return to_prompt(request.prompt)

    def _messages(self, request: LLMRequest, cont: Continuation | None) -> list[ChatMessage]:
        """The request as chat messages, with the continuation messages after them."""
        if request.operation == "complete":
            prompt = self._completion_prompt(request)
            messages = [ChatMessage(role=MessageRole.USER, content=prompt)]
        else:
            messages = _copies(request.messages)
            sanitise(messages, self.history)
        return messages + continuation_messages(cont)


def _with_flags(kwargs: Mapping[str, Any], cont: Continuation | None) -> dict[str, Any]:
    """The call's kwargs, with the options the strategy needs (vLLM's) in ``extra_body``."""
    merged = dict(kwargs)
    if cont is not None and cont.flags:
        merged["extra_body"] = {**(merged.get("extra_body") or {}), **cont.flags}
    return merged


def _method(llm: LLM, name: str, whole: bool) -> Any:
    """The LLM's ``name`` call: ``chat``, or ``stream_chat`` unless ``whole``."""
    return getattr(llm, name if whole else f"stream_{name}")


def _amethod(llm: LLM, name: str, whole: bool) -> Any:
    """The LLM's async ``name`` call: ``achat``, or ``astream_chat`` unless ``whole``."""
    return getattr(llm, f"a{name}" if whole else f"astream_{name}")


def model_name(metadata: LLMMetadata) -> str | None:
    """The model name in ``metadata``, unless it is LlamaIndex's placeholder."""
    name = metadata.model_name
    return name if name and name != _UNKNOWN_MODEL else None


def _with_tools(llm: LLM) -> FunctionCallingLLM:
    """``llm`` if it can chat with tools; a hop that cannot fails, and the chain moves on.

    The failure is a `ConfigurationError` (not a ``TypeError``, which the chain
    would raise as a bug): the hop was chosen knowingly, and the construction
    warned that the chain is not function-calling.
    """
    if not isinstance(llm, FunctionCallingLLM):
        raise ConfigurationError(
            type(llm).__name__, "is not a FunctionCallingLLM: it cannot use tools", "tool use"
        )
    return llm


def continuation_messages(cont: Continuation | None) -> list[ChatMessage]:
    """The messages that ask a chat model to continue ``cont.text``, after the caller's own."""
    if cont is None:
        return []
    messages = [ChatMessage(role=MessageRole.ASSISTANT, content=cont.message)]
    if not cont.prefill:
        messages.append(ChatMessage(role=MessageRole.USER, content=cont.instruction))
    return messages


def _copies(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [m.model_copy(deep=True) for m in messages]


def _tool_options(spec: ToolSpec) -> dict[str, Any]:
    options: dict[str, Any] = {
        "verbose": spec.verbose,
        "allow_parallel_tool_calls": spec.allow_parallel_tool_calls,
    }
    if spec.tool_required:  # older integrations do not accept the argument at all
        options["tool_required"] = True
    return options


@contextlib.contextmanager
def _inside_span(span_id: str | None) -> Iterator[None]:
    """Make ``span_id`` the active LlamaIndex span while a hop is called.

    The hop's own span then nests under the `FallbackLLM` call that started it,
    even though the call's own span ended when it returned its stream.
    """
    token = active_span_id.set(span_id)
    try:
        yield
    finally:
        active_span_id.reset(token)
