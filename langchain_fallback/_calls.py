"""How LangChain calls a chat model that walks a chain: every entry point, one stream.

`ChainCalls` holds the `BaseChatModel` methods of `FallbackChatModel` that
run a call: ``invoke`` / ``stream`` and their async forms hand the caller's
run to the call (so hop events reach it as custom events), ``_stream`` /
``_astream`` walk the chain, and ``_generate`` / ``_agenerate`` fold the
walk's chunks. When nobody reads tokens (no ``streaming=True``, no handler
that streams) the fold is a whole call: a hop without stall limits answers
with its whole reply (its model's ``invoke``) instead of a stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from contextlib import aclosing, closing
from typing import TYPE_CHECKING, Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig

from fallback_core import Chain

from ._call import RUN_KEY, open_call
from ._callbacks import RunHandle
from ._target import ChatRequest

__all__ = ["ChainCalls"]


class ChainCalls(BaseChatModel):
    """The call paths of a chat model whose answers come from walking `fallback_chain`."""

    if TYPE_CHECKING:  # fields of FallbackChatModel, read here
        stop: list[str] | None
        temperature: float | None
        max_tokens: int | None
        nested_runs: bool

        @property
        def fallback_chain(self) -> Chain[ChatRequest]: ...

    def _should_stream(
        self,
        *,
        async_api: bool,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> bool:
        # LangChain's invoke path would stream without handing over its run, so hop
        # events could not reach it; `_generate` folds the stream itself instead.
        if run_manager is not None:
            return False
        return super()._should_stream(async_api=async_api, **kwargs)

    def _reports_tokens(
        self, run: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None, **kwargs: Any
    ) -> bool:
        """Whether LangChain would have streamed this invoke (streaming handler or flag)."""
        is_async = isinstance(run, AsyncCallbackManagerForLLMRun)
        return run is not None and BaseChatModel._should_stream(
            self, async_api=is_async, run_manager=run, **kwargs
        )

    # -- calls ------------------------------------------------------------------

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        handle, config = RunHandle.open(self, config, is_async=False)
        return super().invoke(input, config, stop=stop, **{**kwargs, RUN_KEY: handle})

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        handle, config = RunHandle.open(self, config, is_async=True)
        return await super().ainvoke(input, config, stop=stop, **{**kwargs, RUN_KEY: handle})

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        handle, config = RunHandle.open(self, config, is_async=False)
        yield from super().stream(input, config, stop=stop, **{**kwargs, RUN_KEY: handle})

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        handle, config = RunHandle.open(self, config, is_async=True)
        chunks = super().astream(input, config, stop=stop, **{**kwargs, RUN_KEY: handle})
        async with aclosing(cast("AsyncGenerator[AIMessageChunk, None]", chunks)):
            async for chunk in chunks:
                yield chunk

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._walk(messages, stop, run_manager, kwargs, whole=False)

    def _walk(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: CallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
        *,
        whole: bool,
    ) -> Generator[ChatGenerationChunk, None, None]:
        stop = self.stop if stop is None else stop
        call = open_call(
            messages, stop, self._options(kwargs), run_manager, nested=self.nested_runs
        )
        return call.stream(self.fallback_chain, run_manager, whole=whole)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks = self._awalk(messages, stop, run_manager, kwargs, whole=False)
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    def _awalk(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
        *,
        whole: bool,
    ) -> AsyncGenerator[ChatGenerationChunk, None]:
        stop = self.stop if stop is None else stop
        call = open_call(
            messages, stop, self._options(kwargs), run_manager, nested=self.nested_runs
        )
        return call.astream(self.fallback_chain, run_manager, whole=whole)

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's options, with the model-wide temperature and max_tokens as defaults."""
        for key in ("temperature", "max_tokens"):
            if getattr(self, key) is not None:
                kwargs.setdefault(key, getattr(self, key))
        return kwargs

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if run_manager is not None:
            kwargs.setdefault(RUN_KEY, RunHandle.of_run(run_manager))
        tokens = run_manager if self._reports_tokens(run_manager, **kwargs) else None
        walk = self._walk(messages, stop, tokens, kwargs, whole=tokens is None)
        with closing(walk):
            return generate_from_stream(walk)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if run_manager is not None:
            kwargs.setdefault(RUN_KEY, RunHandle.of_run(run_manager))
        tokens = run_manager if self._reports_tokens(run_manager, **kwargs) else None
        walk = self._awalk(messages, stop, tokens, kwargs, whole=tokens is None)
        async with aclosing(walk):
            return await agenerate_from_stream(walk)
