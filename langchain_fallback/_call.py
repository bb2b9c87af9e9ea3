"""One call through the chain: split the call's kwargs, open its request, report its chunks.

A call's kwargs hold, besides the caller's options, two private entries that
never reach a hop or a trace: the caller's run (`RunHandle`, put there by the
model's ``invoke`` / ``stream`` and their async forms) and the per-hop binding
of tools or structured output. A ``tools`` kwarg given without a binding (``model.bind(
tools=[...])``) is bound to each hop with its own ``bind_tools`` too.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.utils.utils import LC_ID_PREFIX

from fallback_core import Chain
from fallback_core.checks import AnswerCheck, valid_json

from ._callbacks import AsyncEventForwarder, EventForwarder, HopScope, RunHandle
from ._output import OutputBuilder
from ._target import CallLog, ChatRequest
from ._tools import BINDING_KEY, HopBinding, tool_binding

__all__ = ["RUN_KEY", "Call", "open_call", "public_kwargs"]

RUN_KEY = "_fallback_run"
"""The call kwarg carrying the caller's `RunHandle` into ``_stream`` / ``_astream``."""


def public_kwargs(kwargs: Mapping[str, Any], *, keep_binding: bool = False) -> dict[str, Any]:
    """``kwargs`` without the private entries (the binding kept if asked, for cache keys)."""
    hidden = {RUN_KEY} if keep_binding else {RUN_KEY, BINDING_KEY}
    return {k: v for k, v in kwargs.items() if k not in hidden}


@dataclass(frozen=True, slots=True)
class Call:
    """One call: the request every hop gets, the caller's run, and its output builder."""

    request: ChatRequest
    handle: RunHandle | None
    output: OutputBuilder

    @property
    def checks(self) -> list[AnswerCheck]:
        """The call's own checks: JSON text for structured output is held until whole and valid.

        A half JSON value cannot be continued by a provider enforcing a schema,
        so a broken one is never delivered: the next hop gives it again whole.
        """
        binding = self.request.binding
        return [valid_json()] if binding is not None and binding.answers_json else []

    @property
    def listened(self) -> RunHandle | None:
        """The caller's run, if any handler listens to it: hop events go there."""
        return self.handle if self.handle is not None and self.handle.observed else None

    def stream(
        self,
        chain: Chain[ChatRequest],
        run: CallbackManagerForLLMRun | None,
        *,
        whole: bool = False,
    ) -> Generator[ChatGenerationChunk, None, None]:
        """Walk ``chain``: a chunk per delta, then the final chunk; tokens to ``run`` if given.

        Hop events reach the caller's run as they happen. ``whole``: nobody reads
        the answer before it is complete, so a hop without stall limits is asked
        for its whole reply (`Chain.stream`).
        """
        listened = self.listened
        hooks = [EventForwarder(listened)] if listened is not None else []
        stream = chain.stream(self.request, hooks=hooks, checks=self.checks, whole=whole)
        try:
            for delta in stream:
                yield _reported(self.output.chunk(delta), run)
            yield _reported(self.output.final(stream.trace), run)
        finally:
            stream.close()

    async def astream(
        self,
        chain: Chain[ChatRequest],
        run: AsyncCallbackManagerForLLMRun | None,
        *,
        whole: bool = False,
    ) -> AsyncGenerator[ChatGenerationChunk, None]:
        """The async `stream`: hop events are reported before the chunk that follows them."""
        listened = self.listened
        forwarder = AsyncEventForwarder(listened) if listened is not None else None
        stream = chain.astream(
            self.request, hooks=[forwarder] if forwarder else [], checks=self.checks, whole=whole
        )
        try:
            async for delta in stream:
                chunk = self.output.chunk(delta)
                if forwarder is not None:
                    await forwarder.flush()
                yield chunk if run is None else await _areported(chunk, run)  # no idle coroutine
            chunk = self.output.final(stream.trace)
            if forwarder is not None:
                await forwarder.flush()
            yield await _areported(chunk, run)
        except Exception:
            if forwarder is not None:
                await forwarder.flush()  # the caller hears why the chain gave up
            raise
        finally:
            await stream.aclose()
            if forwarder is not None:
                forwarder.mute()  # anything later would arrive after the caller's run ended


def _reported(
    chunk: ChatGenerationChunk, run: CallbackManagerForLLMRun | None
) -> ChatGenerationChunk:
    if run is not None:
        run.on_llm_new_token(chunk.text, chunk=_stamped(chunk, run.run_id))
    return chunk


async def _areported(
    chunk: ChatGenerationChunk, run: AsyncCallbackManagerForLLMRun | None
) -> ChatGenerationChunk:
    if run is not None:
        await run.on_llm_new_token(chunk.text, chunk=_stamped(chunk, run.run_id))
    return chunk


def _stamped(chunk: ChatGenerationChunk, run_id: UUID) -> ChatGenerationChunk:
    """Give ``chunk`` the run's message id, as LangChain does for the chunks it reports."""
    if chunk.message.id is None:
        chunk.message.id = f"{LC_ID_PREFIX}-{run_id}"
    return chunk


def open_call(
    messages: Sequence[BaseMessage],
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
    run: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    *,
    nested: bool,
) -> Call:
    """Set up one call from what ``_stream`` / ``_astream`` received."""
    options = dict(kwargs)
    handle = options.pop(RUN_KEY, None)
    if not isinstance(handle, RunHandle):
        handle = RunHandle.of_run(run) if run is not None else None
    binding = options.pop(BINDING_KEY, None)
    if not isinstance(binding, HopBinding):
        binding = None
    tools = options.pop("tools", None)
    tool_choice = options.pop("tool_choice", None)
    if binding is None and tools:
        binding = tool_binding(tools, tool_choice, {})
    elif binding is None and tool_choice is not None:
        options["tool_choice"] = tool_choice
    scope = handle.scope(nested=nested) if handle is not None else HopScope()
    log = CallLog()
    request = ChatRequest(tuple(messages), stop, options, binding, scope, log)
    return Call(request, handle, OutputBuilder(log))
