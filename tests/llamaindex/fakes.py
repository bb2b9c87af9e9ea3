"""A scripted LlamaIndex LLM for the adapter's fine-grained tests.

`ScriptedLLM` answers like the fault server's models: every instance has one
canonical ``answer``, continues it when the request asks for a continuation
(a final assistant message holding a prefix of it, optionally followed by a
user instruction, or a completion prompt ending with such a prefix), and
answers with a tool call when it has one and is offered tools. ``faults``
say how each attempt misbehaves, in order; the last one repeats.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.tools.types import BaseTool

ANSWER = (
    "Fallback chains keep a pipeline answering when one provider stumbles. "
    "A stream that breaks halfway is picked up by the next model in line."
)

_TOKEN = re.compile(r"\s*\S+")
RELEASE = threading.Event()  # set at test teardown: ends every sync stall


@dataclass(frozen=True)
class Fault:
    """How one attempt misbehaves: raise ``error`` after ``after`` tokens, stall, or end quietly."""

    after: int = 0
    error: BaseException | None = None
    stall: float | None = None
    quiet_end: bool = False


def cut(after: int) -> Fault:
    """Send ``after`` tokens, then the connection drops."""
    return Fault(after, error=ConnectionResetError("connection reset by peer"))


def fail(error: BaseException) -> Fault:
    """Fail before the first token."""
    return Fault(0, error=error)


def stall(after: int, seconds: float = 30.0) -> Fault:
    """Send ``after`` tokens, then go quiet."""
    return Fault(after, stall=seconds)


def quiet_end(after: int) -> Fault:
    """Send ``after`` tokens, then end the stream without a finish reason."""
    return Fault(after, quiet_end=True)


@dataclass
class Call:
    """What one attempt was asked."""

    method: str
    messages: list[ChatMessage] = field(default_factory=list)
    prompt: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


class ScriptedLLM(FunctionCallingLLM):
    """A function-calling LLM whose attempts follow ``faults`` (None: a healthy attempt).

    ``tool_calls`` ((name, arguments), ...) are made when tools are offered and
    the last message is not a tool result. With ``reports_finish`` the last chunk's
    ``raw`` carries an OpenAI-style finish reason.
    """

    model: str = "scripted"
    answer: str = ANSWER
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    chat_model: bool = True
    function_calling: bool = True
    context_window: int = 8000
    num_output: int = 256
    reports_finish: bool = True
    max_retries: int = 0

    _faults: list[Fault | None] = PrivateAttr(default_factory=list)
    _calls: list[Call] = PrivateAttr(default_factory=list)

    def __init__(self, *faults: Fault | None, **data: Any) -> None:
        super().__init__(**data)
        self._faults = list(faults)
        self._calls = []

    @classmethod
    def class_name(cls) -> str:
        return "ScriptedLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            is_chat_model=self.chat_model,
            is_function_calling_model=self.function_calling,
            model_name=self.model,
        )

    @property
    def calls(self) -> list[Call]:
        return self._calls

    # -- what an attempt answers ----------------------------------------------

    def _fault(self) -> Fault | None:
        if not self._faults:
            return None
        return self._faults[min(len(self._calls), len(self._faults)) - 1]

    def _plan(self, messages: Sequence[ChatMessage], tools: Any) -> tuple[list[str], Any]:
        if self.tool_calls and tools and messages[-1].role != MessageRole.TOOL:
            return [], self.tool_calls
        given = ""
        roles = [m.role for m in messages]
        if roles and roles[-1] == MessageRole.ASSISTANT:
            given = messages[-1].content or ""
        elif roles[-2:] == [MessageRole.ASSISTANT, MessageRole.USER]:
            given = messages[-2].content or ""
        if not self.answer.startswith(given):
            given = ""
        return _TOKEN.findall(self.answer[len(given) :]), None

    def _plan_prompt(self, prompt: str) -> list[str]:
        for k in range(len(self.answer), 0, -1):
            if prompt.endswith(self.answer[:k]):
                return _TOKEN.findall(self.answer[k:])
        return _TOKEN.findall(self.answer)

    def _chat_chunks(self, tokens: list[str], call: Any, fault: Fault | None) -> list[Any]:
        """The cumulative responses of one attempt, with the fault's exception or stall inline."""
        chunks: list[Any] = []
        text = ""
        for i, token in enumerate(tokens):
            chunks += _fault_at(i, fault)
            text += token
            chunks.append(_chat(text, token, None))
        if call is not None:
            chunks += _fault_at(0, fault)
            blocks = [
                ToolCallBlock(tool_call_id=f"call_{i}", tool_name=name, tool_kwargs=arguments)
                for i, (name, arguments) in enumerate(call)
            ]
            chunks.append(_chat("", "", None, *blocks))
        if fault is not None and fault.after >= len(tokens) and call is None:
            chunks += _fault_at(fault.after, fault)
        if fault is not None and fault.quiet_end:
            return chunks[: fault.after]
        if self.reports_finish:
            last = chunks[-1] if chunks and isinstance(chunks[-1], ChatResponse) else None
            message = last.message if last is not None else ChatMessage(role="assistant")
            reason = "tool_calls" if call is not None else "stop"
            chunks.append(
                ChatResponse(
                    message=message, delta="", raw={"choices": [{"finish_reason": reason}]}
                )
            )
        return chunks

    def _record(self, method: str, messages: Sequence[ChatMessage] = (), **kw: Any) -> Fault | None:
        prompt = kw.pop("prompt", None)
        self._calls.append(Call(method, list(messages), prompt, kw))
        return self._fault()

    def _play(self, chunks: list[Any]) -> Generator[Any, None, None]:
        for chunk in chunks:
            if isinstance(chunk, BaseException):
                raise chunk
            if isinstance(chunk, float):
                RELEASE.wait(chunk)
                continue
            yield chunk

    async def _aplay(self, chunks: list[Any]) -> AsyncGenerator[Any, None]:
        for chunk in chunks:
            if isinstance(chunk, BaseException):
                raise chunk
            if isinstance(chunk, float):
                await asyncio.sleep(chunk)
                continue
            await asyncio.sleep(0)
            yield chunk

    def _chat_stream(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> list[Any]:
        fault = self._record("stream_chat", messages, **kwargs)
        tokens, call = self._plan(messages, kwargs.get("tools"))
        return self._chat_chunks(tokens, call, fault)

    def _completion_stream(self, prompt: str, kwargs: dict[str, Any]) -> list[Any]:
        fault = self._record("stream_complete", prompt=prompt, **kwargs)
        chunks = self._chat_chunks(self._plan_prompt(prompt), None, fault)
        return [_as_completion(c) for c in chunks]

    # -- the LLM interface ----------------------------------------------------

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._play(self._chat_stream(messages, kwargs))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return self._aplay(self._chat_stream(messages, kwargs))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return self._play(self._completion_stream(prompt, {**kwargs, "formatted": formatted}))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return self._aplay(self._completion_stream(prompt, {**kwargs, "formatted": formatted}))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        *_, last = self._play(self._chat_stream(messages, kwargs))
        return last  # type: ignore[no-any-return]

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self.chat(messages, **kwargs)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        *_, last = self._play(self._completion_stream(prompt, kwargs))
        return last  # type: ignore[no-any-return]

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return self.complete(prompt, formatted, **kwargs)

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                ChatMessage(role="user", content=user_msg)
                if isinstance(user_msg, str)
                else user_msg
            )
        # This provider's own tool format: a list of tool names.
        return {"messages": messages, "tools": [t.metadata.name for t in tools], **kwargs}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        legacy = response.message.additional_kwargs.get("scripted_calls", [])
        return [
            ToolSelection(tool_id=c["id"], tool_name=c["name"], tool_kwargs=c["args"])
            for c in legacy
        ]


def _fault_at(i: int, fault: Fault | None) -> list[Any]:
    if fault is None or fault.after != i or fault.quiet_end:
        return []
    if fault.stall is not None:
        return [float(fault.stall)]
    return [fault.error] if fault.error is not None else []


def _chat(text: str, delta: str, raw: Any, *calls: ToolCallBlock) -> ChatResponse:
    blocks: list[Any] = [TextBlock(text=text), *calls]
    return ChatResponse(message=ChatMessage(role="assistant", blocks=blocks), delta=delta, raw=raw)


def _as_completion(chunk: Any) -> Any:
    if not isinstance(chunk, ChatResponse):
        return chunk
    return CompletionResponse(text=chunk.message.content or "", delta=chunk.delta, raw=chunk.raw)


def arguments(call: ToolSelection) -> str:
    """A tool selection's arguments as canonical JSON, for comparisons."""
    return json.dumps(call.tool_kwargs, sort_keys=True)
