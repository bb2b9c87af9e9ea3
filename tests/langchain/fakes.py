"""A scripted chat model for the adapter's fine-grained tests.

`ScriptedChatModel` plays one script per call (the last one repeats). A script
is a list of items: a str (a text chunk), a `ToolCall` (streamed in two
fragments), an `AIMessageChunk` (sent as it is), an exception (raised at that
point), a `Stall` (the stream goes quiet), or a `Finish` (the closing chunk
with a finish reason and usage); or a bare exception, raised as the call starts.
`ok(...)` ends with a `Finish`, `cut(...)` does not. Every call is recorded
with what the model received.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from langchain_fallback import ChatHop


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model makes, streamed as two argument fragments."""

    name: str
    args: dict[str, Any]
    id: str = "call_1"


@dataclass(frozen=True)
class Stall:
    """The stream goes quiet for ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Finish:
    """The closing chunk: a finish reason, and usage if given (input, output)."""

    reason: str = "stop"
    usage: tuple[int, int] | None = None


Item = str | ToolCall | Stall | Finish | AIMessageChunk | BaseException
Script = Sequence[Item] | BaseException


def ok(*items: str | ToolCall, usage: tuple[int, int] | None = None) -> list[Item]:
    """A complete answer: the items, then a finish reason (``tool_calls`` if any tool call)."""
    reason = "tool_calls" if any(isinstance(i, ToolCall) for i in items) else "stop"
    return [*items, Finish(reason, usage)]


def cut(*items: str | ToolCall) -> list[Item]:
    """A stream that ends after the items without a finish reason."""
    return list(items)


@dataclass
class Received:
    """One call as the model received it."""

    messages: list[BaseMessage]
    stop: list[str] | None
    kwargs: dict[str, Any]
    config: RunnableConfig | None = None


class ScriptedChatModel(BaseChatModel):
    """A chat model whose every call plays the next script."""

    scripts: list[Any]
    model_name: str = "scripted"
    _calls: list[Received] = PrivateAttr(default_factory=list)
    _configs: list[RunnableConfig | None] = PrivateAttr(default_factory=list)

    def __init__(self, *scripts: Script, **data: Any) -> None:
        super().__init__(scripts=list(scripts), **data)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[Received]:
        """Every call so far, with the config it was given."""
        for call, config in zip(self._calls, self._configs, strict=False):
            call.config = config
        return self._calls

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        self._configs.append(config)
        yield from super().stream(input, config, stop=stop, **kwargs)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        self._configs.append(config)
        async for chunk in super().astream(input, config, stop=stop, **kwargs):
            yield chunk

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _script(self, messages: list[BaseMessage], stop: Any, kwargs: Any) -> Sequence[Item]:
        self._calls.append(Received(list(messages), stop, dict(kwargs)))
        script = self.scripts[min(len(self._calls), len(self.scripts)) - 1]
        if isinstance(script, BaseException):
            raise script
        return list(script)

    def _chunks(self, item: Item) -> list[AIMessageChunk]:
        if isinstance(item, AIMessageChunk):
            return [item]
        if isinstance(item, str):
            return [AIMessageChunk(content=item)]
        if isinstance(item, ToolCall):
            text = json.dumps(item.args)
            half = len(text) // 2
            return [
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        tool_call_chunk(name=item.name, args=text[:half], id=item.id, index=0)
                    ],
                ),
                AIMessageChunk(
                    content="", tool_call_chunks=[tool_call_chunk(args=text[half:], index=0)]
                ),
            ]
        if isinstance(item, Finish):
            usage = None
            if item.usage is not None:
                i, o = item.usage
                usage = {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}
            return [
                AIMessageChunk(
                    content="",
                    response_metadata={"finish_reason": item.reason, "model_name": self.model_name},
                    usage_metadata=usage,  # type: ignore[arg-type]
                )
            ]
        raise AssertionError(item)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for item in self._script(messages, stop, kwargs):
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Stall):
                time.sleep(item.seconds)
                continue
            for chunk in self._chunks(item):
                yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for item in self._script(messages, stop, kwargs):
            await asyncio.sleep(0)
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Stall):
                await asyncio.sleep(item.seconds)
                continue
            for chunk in self._chunks(item):
                yield ChatGenerationChunk(message=chunk)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = [c.message for c in self._stream(messages, stop, **kwargs)]
        message = chunks[0]
        for chunk in chunks[1:]:
            message += chunk
        return ChatResult(generations=[ChatGeneration(message=message)])


def reporting(*models: BaseChatModel, **settings: Any) -> list[ChatHop]:
    """The models as hops that require a finish reason, as real provider models do."""
    return [ChatHop(model, require_finish=True, **settings) for model in models]
