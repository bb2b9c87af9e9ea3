"""A hop read without a LangChain run of its own gives exactly what its ``stream`` gives.

When nothing observes a hop (no ``nested_runs``) its chunks are read from the
model's ``_stream`` / ``_astream`` directly. Real ChatOpenAI and ChatAnthropic
models against the fault server: the same chunks, metadata, usage, tool call
fragments and id shapes as the model's own ``stream`` / ``astream``; the rate
limiter is still honoured; a model that overrides ``stream`` keeps its own.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler, CallbackManager
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.rate_limiters import BaseRateLimiter
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from langchain_fallback import ChatHop, FallbackChatModel
from langchain_fallback._callbacks import HopScope
from langchain_fallback._direct import hop_astream, hop_stream, reads_directly

from .conftest import ANSWER, Call, merged
from .servers import AnthropicHops, OpenAIHops

PROVIDER_ID = re.compile(r"^(chatcmpl-|msg_)[0-9A-Za-z]+$")
RUN_ID = re.compile(r"^lc_run--[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


class Weather(BaseModel):
    """The weather in a city."""

    city: str


def _hop_model(provider: str, openai_hop: OpenAIHops, anthropic_hop: AnthropicHops) -> Any:
    return {"openai": openai_hop, "anthropic": anthropic_hop}[provider]


def _options(model: BaseChatModel, kind: str) -> dict[str, Any]:
    """The call options a hop gets: none, bound tools, or structured output's binding."""
    if kind == "plain":
        return {}
    if kind == "tools":
        return dict(model.bind_tools([get_weather]).kwargs)  # type: ignore[attr-defined]
    structured = model.with_structured_output(Weather)
    return dict(structured.first.kwargs)  # type: ignore[attr-defined]


def _shape(chunk: BaseMessage, run_ids: set[str]) -> dict[str, Any]:
    """Everything a caller can read off a chunk; a run-style id only by its form."""
    chunk_id = chunk.id
    if chunk_id is not None and RUN_ID.match(chunk_id):
        run_ids.add(chunk_id)
        chunk_id = "lc_run--<uuid7>"
    elif chunk_id is not None:
        chunk_id = PROVIDER_ID.sub(r"\1<id>", chunk_id)
    metadata = dict(chunk.response_metadata)
    if isinstance(metadata.get("id"), str):  # the provider's id, new for every request
        metadata["id"] = PROVIDER_ID.sub(r"\1<id>", metadata["id"])
    return {
        "type": type(chunk).__name__,
        "content": chunk.content,
        "additional_kwargs": chunk.additional_kwargs,
        "response_metadata": metadata,
        "usage_metadata": getattr(chunk, "usage_metadata", None),
        "tool_call_chunks": getattr(chunk, "tool_call_chunks", None),
        "chunk_position": getattr(chunk, "chunk_position", None),
        "id": chunk_id,
    }


def _shapes(chunks: list[BaseMessage]) -> list[dict[str, Any]]:
    run_ids: set[str] = set()
    shapes = [_shape(chunk, run_ids) for chunk in chunks]
    assert len(run_ids) <= 1, "one stream's chunks share one run id"
    return shapes


def _both_ways(model: BaseChatModel, kwargs: dict[str, Any], is_async: bool) -> tuple[Any, Any]:
    """The chunks of the direct read and of the model's own stream, for one request."""
    scope = HopScope()
    config = scope.config_for("hop")
    messages: list[BaseMessage] = [HumanMessage("What is a fallback chain?")]

    with scope.starting():
        assert reads_directly(model, kwargs, config, is_async=is_async)
    if not is_async:
        with scope.starting():
            direct = list(hop_stream(model, messages, config, None, kwargs))
            standard = list(model.stream(messages, scope.config_for("hop"), **kwargs))
        return direct, standard

    async def read() -> tuple[list[BaseMessage], list[BaseMessage]]:
        with scope.starting():
            direct = [c async for c in hop_astream(model, messages, config, None, kwargs)]
            standard = [c async for c in model.astream(messages, scope.config_for("hop"), **kwargs)]
        return direct, standard

    return asyncio.run(read())


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", ["plain", "tools", "structured"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_direct_read_gives_the_same_chunks_as_the_models_stream(
    openai_hop: OpenAIHops,
    anthropic_hop: AnthropicHops,
    provider: str,
    kind: str,
    is_async: bool,
) -> None:
    name = "primary" if kind == "plain" else "tooler"
    model = _hop_model(provider, openai_hop, anthropic_hop)(name)
    direct, standard = _both_ways(model, _options(model, kind), is_async)
    assert len(standard) > 5
    assert _shapes(direct) == _shapes(standard)
    assert any(getattr(c, "usage_metadata", None) for c in direct)
    if kind == "plain":
        assert merged(cast("list[AIMessageChunk]", direct)).text == ANSWER
    else:  # a tool call; or ChatOpenAI's structured output (a JSON schema), parsed
        assert any(
            getattr(c, "tool_call_chunks", None) or c.additional_kwargs.get("parsed")
            for c in direct
        )


def test_a_stream_with_nothing_in_it_fails_as_the_models_stream_does() -> None:
    class Silent(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "silent"

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            yield from ()

    model = Silent()
    config = HopScope().config_for("hop")
    with pytest.raises(ValueError, match="No generation chunks") as standard:
        list(model.stream([HumanMessage("hi")], config))
    with pytest.raises(ValueError, match="No generation chunks") as direct:
        list(hop_stream(model, [HumanMessage("hi")], config, None, {}))
    assert str(direct.value) == str(standard.value)


class CountingLimiter(BaseRateLimiter):
    """Lets every request through, counting how each was asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def acquire(self, *, blocking: bool = True) -> bool:
        self.calls.append(("acquire", blocking))
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        self.calls.append(("aacquire", blocking))
        return True


def _hop_runs(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Names of the chat-model runs started (ours is named by the caller; hops are not)."""
    started: list[str | None] = []
    for manager in (CallbackManager, AsyncCallbackManager):
        original: Callable[..., Any] = manager.on_chat_model_start

        def spy(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            started.append(kwargs.get("name"))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(manager, "on_chat_model_start", spy)
    return started


def test_the_hops_rate_limiter_is_still_honoured(
    streamed: Call, openai_hop: OpenAIHops, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = CountingLimiter()
    model = FallbackChatModel(models=[ChatHop(openai_hop("primary", rate_limiter=limiter))])
    started = _hop_runs(monkeypatch)
    answer = streamed(model, "hi", {"run_name": "ours"})
    assert answer.text == ANSWER
    assert started == ["ours"], "the hop was read without a run of its own"
    assert len(limiter.calls) == 1
    assert limiter.calls[0][1] is True  # blocking, as the model's own stream asks


class RecordingChatOpenAI(ChatOpenAI):
    """A ChatOpenAI whose class overrides ``stream`` / ``astream``: they must still be used."""

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        overridden.append("stream")
        yield from super().stream(input, config, stop=stop, **kwargs)

    async def astream(  # type: ignore[override]
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        overridden.append("astream")
        async for chunk in super().astream(input, config, stop=stop, **kwargs):
            yield chunk


overridden: list[str] = []


def test_a_model_that_overrides_stream_keeps_its_override(
    streamed: Call, openai_hop: OpenAIHops, monkeypatch: pytest.MonkeyPatch
) -> None:
    overridden.clear()
    settings = {
        "model": "primary",
        "base_url": openai_hop.server.base_url,
        "api_key": "test",
        "max_retries": 0,
        "stream_usage": True,
        "http_client": openai_hop.client,
        "http_async_client": openai_hop.async_client,
    }
    model = FallbackChatModel(models=[ChatHop(RecordingChatOpenAI(**settings))])
    started = _hop_runs(monkeypatch)
    answer = streamed(model, "hi", {"run_name": "ours"})
    assert answer.text == ANSWER
    assert overridden == [streamed.args[0]]  # type: ignore[attr-defined]
    assert started == ["ours", None], "the override ran as the model's own run"


def test_nested_runs_keep_the_hops_own_run(
    streamed: Call, openai_hop: OpenAIHops, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = FallbackChatModel(
        models=[ChatHop(openai_hop("primary"), name="main")], nested_runs=True
    )
    started = _hop_runs(monkeypatch)
    answer = streamed(model, "hi", {"run_name": "ours"})
    assert answer.text == ANSWER
    assert started == ["ours", "main"]


class StartCounter(BaseCallbackHandler):
    """A handler on the hop model itself: it observes the hop's run."""

    def __init__(self) -> None:
        self.starts = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1


@pytest.mark.parametrize(
    "options",
    [pytest.param({"callbacks": "handler"}, id="own-callbacks"), {"output_version": "v1"}],
)
def test_a_hop_the_direct_read_cannot_stand_for_runs_as_its_own_stream(
    streamed: Call,
    openai_hop: OpenAIHops,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
) -> None:
    handler = StartCounter()
    if options.get("callbacks"):
        options = {"callbacks": [handler]}
    model = FallbackChatModel(models=[ChatHop(openai_hop("primary", **options))])
    started = _hop_runs(monkeypatch)
    answer = streamed(model, "hi", {"run_name": "ours"})
    assert answer.text == ANSWER
    assert started == ["ours", None]
    assert handler.starts == (1 if options.get("callbacks") else 0)
