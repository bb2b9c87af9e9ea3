"""The stories the cassettes tell, shared by the recording script and the replay tests.

Each `Scenario` names what the primary model does on the wire and what the
chain must make of it: which hop serves, and every attempt in order. Both
adapters are built here the same way for recording (clients pointed at a
running fault server) and for replay (clients pointed at `FAULT_SERVER_URL`),
and asked the same question, so a replayed request matches its recorded one.
"""

from __future__ import annotations

import asyncio
import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage
from langchain_openai import ChatOpenAI
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.llms.anthropic import Anthropic
from llama_index.llms.openai_like import OpenAILike

from fallback_core.testing import Fault, ModelScript
from langchain_fallback import ChatHop, FallbackChatModel
from llamaindex_fallback import FallbackLLM, LLMHop

__all__ = [
    "ANSWER",
    "ANTHROPIC_SCENARIOS",
    "LANGCHAIN_KINDS",
    "LANGCHAIN_SCENARIOS",
    "LLAMAINDEX_KINDS",
    "LLAMAINDEX_SCENARIOS",
    "MODELS",
    "PROMPT",
    "SCENARIOS",
    "Adapter",
    "Attempt",
    "Clients",
    "Outcome",
    "Scenario",
    "ask",
    "attempts_of",
    "build",
    "primary_model",
]

Adapter = Literal["langchain", "llamaindex", "langchain-anthropic", "llamaindex-anthropic"]
# One attempt as the trace reports it: hop, failure category (None: it served), continuation.
Attempt = tuple[str, str | None, str | None]

ANSWER = "Backup models keep the answer coming, word for word."
PROMPT = "Why have backup models?"
# LlamaIndex's Anthropic takes only model names it knows: its hops are these models.
CLAUDE_MODELS = {"primary": "claude-haiku-4-5", "backup": "claude-sonnet-4-5"}
MODELS: Mapping[str, ModelScript] = {
    name: ModelScript(ANSWER) for name in ("primary", "backup", *CLAUDE_MODELS.values())
}
NO_WAIT = {"backoff": lambda retry: 0.0}

LANGCHAIN_KINDS = ("invoke", "ainvoke", "stream", "astream")
LLAMAINDEX_KINDS = ("chat", "achat", "stream_chat", "astream_chat")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One recorded call: the primary's fault on the wire and the attempts the chain must make.

    With ``streamed=False`` the hops make non-streaming HTTP calls
    (``ChatOpenAI(disable_streaming=True)``; LlamaIndex hops always stream).
    """

    name: str
    summary: str
    fault: Fault | None
    attempts: tuple[Attempt, ...]
    streamed: bool = True
    adapters: frozenset[Adapter] = field(default=frozenset({"langchain", "llamaindex"}))

    @property
    def served_by(self) -> str:
        """The hop whose answer the caller receives."""
        return self.attempts[-1][0]

    def cassette(self, adapter: Adapter) -> str:
        """The cassette's path under ``cassettes/``, without its ``.yaml`` suffix."""
        return f"{adapter}/{self.name}"


_SERVED = ("primary", None, None)
SCENARIOS = (
    Scenario("happy_path", "the primary streams the answer", None, (_SERVED,)),
    Scenario(
        "happy_path_not_streamed",
        "the primary answers one JSON body (hops that do not stream)",
        None,
        (_SERVED,),
        streamed=False,
        adapters=frozenset({"langchain"}),
    ),
    Scenario(
        "rate_limit_then_backup",
        "429 with Retry-After: 0 on every try: two retries, then the backup",
        Fault.rate_limit(retry_after=0),
        (*[("primary", "rate_limit", None)] * 3, ("backup", None, None)),
    ),
    Scenario(
        "server_error_then_backup",
        "500 on every try: one retry, then the backup",
        Fault.server_error(500),
        (*[("primary", "server", None)] * 2, ("backup", None, None)),
    ),
    Scenario(
        "truncated_stream_continued",
        "the primary's stream stops after four tokens; the backup continues the answer",
        Fault.cut_after(4),
        (("primary", "truncated", None), ("backup", None, "instruct")),
    ),
    Scenario(
        "missing_done_still_complete",
        "the stream ends after its finish chunk without data: [DONE]: still complete",
        Fault.missing_done(),
        (_SERVED,),
    ),
)
_CLAUDE = frozenset({"langchain-anthropic", "llamaindex-anthropic"})
# ChatAnthropic hops over the Messages API. No cut stream: vcrpy records a body
# only when it arrives whole, and the httpx2 transport the anthropic SDK uses has
# no tap here (the fault-server tests cover the cut); the overload mid-stream
# arrives whole, a 200 whose last event is `event: error`.
ANTHROPIC_SCENARIOS = (
    Scenario("happy_path", "Claude streams the answer", None, (_SERVED,), adapters=_CLAUDE),
    Scenario(
        "rate_limit_then_backup",
        "429 with retry-after: 0 on every try: two retries, then the backup",
        Fault.rate_limit(retry_after=0),
        (*[("primary", "rate_limit", None)] * 3, ("backup", None, None)),
        adapters=_CLAUDE,
    ),
    Scenario(
        "overloaded_then_backup",
        "529 overloaded_error on every try: one retry, then the backup",
        Fault.server_error(529),
        (*[("primary", "server", None)] * 2, ("backup", None, None)),
        adapters=_CLAUDE,
    ),
    Scenario(
        "overloaded_mid_stream_continued",
        "event: error (overloaded_error) after four tokens of a 200: the retry continues it",
        Fault.error_event(4, times=1),
        (("primary", "server", None), ("primary", None, "prefill")),
        adapters=_CLAUDE,
    ),
)
LANGCHAIN_SCENARIOS = tuple(s for s in SCENARIOS if "langchain" in s.adapters)
LLAMAINDEX_SCENARIOS = tuple(s for s in SCENARIOS if "llamaindex" in s.adapters)


@dataclass(frozen=True, slots=True)
class Clients:
    """The HTTP clients every hop of one chain shares; `close` releases both."""

    sync: httpx.Client
    async_: httpx.AsyncClient

    @classmethod
    def plain(cls) -> Clients:
        """Clients that keep no idle async connection, so one pair serves several event loops."""
        limits = httpx.Limits(max_keepalive_connections=0)
        return cls(httpx.Client(timeout=10), httpx.AsyncClient(timeout=10, limits=limits))

    def close(self) -> None:
        """Close both clients (the async one on an event loop of its own)."""
        self.sync.close()
        asyncio.run(self.async_.aclose())


def build(adapter: Adapter, scenario: Scenario, base_url: str, clients: Clients) -> Any:
    """The adapter's fallback model over real clients: "primary", then "backup".

    ``base_url`` is the OpenAI one; Claude hops take it without ``/v1``.
    """
    if adapter == "llamaindex-anthropic":
        hops = [
            LLMHop(
                Anthropic(
                    model=CLAUDE_MODELS[name],
                    base_url=base_url.removesuffix("/v1"),
                    api_key="test",
                    max_retries=0,
                    max_tokens=1024,
                    timeout=10.0,
                ),
                name=name,
            )
            for name in ("primary", "backup")
        ]
        return FallbackLLM(hops, **NO_WAIT)
    if adapter == "langchain-anthropic":
        claude = [
            ChatHop(
                ChatAnthropic(
                    model=name,
                    anthropic_api_url=base_url.removesuffix("/v1"),
                    api_key="test",  # type: ignore[arg-type]
                    max_retries=0,
                    max_tokens=1024,
                ),
                name=name,
            )
            for name in ("primary", "backup")
        ]
        return FallbackChatModel(models=claude, **NO_WAIT)
    if adapter == "langchain":
        hops = [
            ChatHop(
                ChatOpenAI(
                    model=name,
                    base_url=base_url,
                    api_key="test",  # type: ignore[arg-type]
                    max_retries=0,
                    http_client=clients.sync,
                    http_async_client=clients.async_,
                    disable_streaming=not scenario.streamed,
                ),
                name=name,
            )
            for name in ("primary", "backup")
        ]
        return FallbackChatModel(models=hops, **NO_WAIT)
    llms = [
        OpenAILike(
            model=name,
            api_base=base_url,
            api_key="test",
            is_chat_model=True,
            context_window=16_000,
            max_retries=0,
            timeout=10.0,
            http_client=clients.sync,
            async_http_client=clients.async_,
        )
        for name in ("primary", "backup")
    ]
    return FallbackLLM(llms, **NO_WAIT)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call gave the caller: the whole text and the chain's trace."""

    text: str
    trace: Mapping[str, Any]


def attempts_of(trace: Mapping[str, Any]) -> tuple[Attempt, ...]:
    """Each attempt in `trace` as (hop, failure category, continuation)."""
    return tuple((a["hop"], a["category"], a["continuation"]) for a in trace["attempts"])


def primary_model(adapter: Adapter) -> str:
    """The fault server's name for the adapter's primary model."""
    return CLAUDE_MODELS["primary"] if adapter == "llamaindex-anthropic" else "primary"


def ask(adapter: Adapter, model: Any, kind: str) -> Outcome:
    """Ask `model` the `PROMPT` once, the `kind` way (one of the adapter's `*_KINDS`)."""
    if adapter.startswith("langchain"):
        return _ask_langchain(model, kind)
    return _ask_llamaindex(model, kind)


def _ask_langchain(model: FallbackChatModel, kind: str) -> Outcome:
    async def run_async() -> list[Any]:
        if kind == "ainvoke":
            return [await model.ainvoke(PROMPT)]
        return [chunk async for chunk in model.astream(PROMPT)]

    if kind == "invoke":
        parts: list[Any] = [model.invoke(PROMPT)]
    elif kind == "stream":
        parts = list(model.stream(PROMPT))
    else:
        parts = asyncio.run(run_async())
    message: AIMessage = functools.reduce(operator.add, parts)
    return Outcome(message.text, message.response_metadata["fallback"])


def _ask_llamaindex(llm: FallbackLLM, kind: str) -> Outcome:
    messages = [ChatMessage(role="user", content=PROMPT)]

    async def run_async() -> Sequence[ChatResponse]:
        if kind == "achat":
            return [await llm.achat(messages)]
        return [response async for response in await llm.astream_chat(messages)]

    if kind == "chat":
        responses: Sequence[ChatResponse] = [llm.chat(messages)]
    elif kind == "stream_chat":
        responses = list(llm.stream_chat(messages))
    else:
        responses = asyncio.run(run_async())
    streamed = "".join(r.delta or "" for r in responses) if "stream" in kind else None
    last = responses[-1]
    text = last.message.content or ""
    if streamed is not None and streamed != text:
        raise AssertionError(f"the deltas add up to {streamed!r}, the last response to {text!r}")
    return Outcome(text, last.additional_kwargs["fallback"])
