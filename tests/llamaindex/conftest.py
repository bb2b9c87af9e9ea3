"""Fixtures for the LlamaIndex adapter's tests: offline settings, both drivers, the fault server.

llama-index-core ships the tiktoken and NLTK data it needs in its ``_static``
folder; the environment below keeps every lookup there, and the global
``Settings`` get a mock embedding model and LLM so that nothing reaches for
OpenAI's defaults (which would need a key and the network).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import llama_index.core
import pytest
from llama_index.core import MockEmbedding, Settings
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.llms import LLM, MockLLM

from fallback_core.testing.pytest_plugin import fault_server, fault_server_models  # noqa: F401
from tests.llamaindex import fakes

_STATIC = Path(llama_index.core.__file__).parent / "_static"
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_STATIC / "tiktoken_cache"))
os.environ.setdefault("NLTK_DATA", str(_STATIC / "nltk_cache"))


@pytest.fixture(autouse=True)
def offline_settings() -> Iterator[None]:
    """Global LlamaIndex settings that never need the network, restored after the test."""
    saved_llm, saved_embed = Settings._llm, Settings._embed_model
    Settings.embed_model = MockEmbedding(embed_dim=8)
    Settings.llm = MockLLM()
    yield
    Settings._llm, Settings._embed_model = saved_llm, saved_embed
    fakes.RELEASE.set()
    fakes.RELEASE.clear()


def user(text: str = "Tell me about fallback chains.") -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


class Drive:
    """Calls a LlamaIndex LLM through its sync or its async methods and collects the result."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def _run(self, sync: Callable[[], Any], coro: Callable[[], Any]) -> Any:
        return sync() if self.mode == "sync" else asyncio.run(coro())

    def chat(self, llm: LLM, messages: Sequence[ChatMessage], **kw: Any) -> ChatResponse:
        return self._run(lambda: llm.chat(messages, **kw), lambda: llm.achat(messages, **kw))

    def stream_chat(
        self, llm: LLM, messages: Sequence[ChatMessage], **kw: Any
    ) -> list[ChatResponse]:
        async def collect() -> list[ChatResponse]:
            return [r async for r in await llm.astream_chat(messages, **kw)]

        return self._run(lambda: list(llm.stream_chat(messages, **kw)), collect)

    def complete(self, llm: LLM, prompt: str, **kw: Any) -> CompletionResponse:
        return self._run(lambda: llm.complete(prompt, **kw), lambda: llm.acomplete(prompt, **kw))

    def stream_complete(self, llm: LLM, prompt: str, **kw: Any) -> list[CompletionResponse]:
        async def collect() -> list[CompletionResponse]:
            return [r async for r in await llm.astream_complete(prompt, **kw)]

        return self._run(lambda: list(llm.stream_complete(prompt, **kw)), collect)

    def chat_with_tools(self, llm: Any, tools: Sequence[Any], **kw: Any) -> ChatResponse:
        return self._run(
            lambda: llm.chat_with_tools(tools, **kw), lambda: llm.achat_with_tools(tools, **kw)
        )

    def stream_chat_with_tools(self, llm: Any, tools: Sequence[Any], **kw: Any) -> list[Any]:
        async def collect() -> list[ChatResponse]:
            stream: AsyncIterator[ChatResponse] = await llm.astream_chat_with_tools(tools, **kw)
            return [r async for r in stream]

        return self._run(lambda: list(llm.stream_chat_with_tools(tools, **kw)), collect)


@pytest.fixture(params=["sync", "async"])
def drive(request: pytest.FixtureRequest) -> Drive:
    """Runs a call through the sync or the async methods of an LLM."""
    return Drive(request.param)
