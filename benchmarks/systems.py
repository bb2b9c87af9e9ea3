"""The systems under test, each in its fair best configuration, all streaming.

Common ground, the same for every system:

- every HTTP client has the same timeout, `CLIENT_TIMEOUT` (httpx applies it
  to the connect and to each read, so it also bounds the gap between chunks);
- every provider client is built with ``max_retries=0``, so each retry is the
  resilience layer's own decision (LangChain's fallbacks guide says to turn the
  client's retries off, LiteLLM's Router turns them off itself, our adapters
  call their models through a copy without them);
- where a system has a knob for stalls, it gets the same limit, `STALL_LIMIT`:
  our ``first_token_timeout`` / ``idle_timeout``, LiteLLM's ``stream_timeout``.
  LangChain's ``with_fallbacks`` and the bare model have none: the client
  timeout is their only bound;
- retries match: LiteLLM's ``retry_policy`` is set to our default policy
  (429: 2 retries, 5xx: 1, anything else: none); LangChain's ``with_fallbacks``
  has no retries of its own, so it fails over at once;
- breakers match: our ``Health(Breaker(...))`` and LiteLLM's cooldown get the
  same threshold and cooldown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms import LLM
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

from fallback_core import Breaker, Health
from langchain_fallback import ChatHop, FallbackChatModel
from llamaindex_fallback import FallbackLLM, LLMHop

from .scenarios import PRIMARY, Scenario

__all__ = [
    "BREAKER_COOLDOWN",
    "BREAKER_THRESHOLD",
    "CLIENT_TIMEOUT",
    "DEADLINE",
    "STALL_LIMIT",
    "SYSTEMS",
    "Client",
    "HttpClients",
    "System",
    "chat_openai",
    "fallback_chat_model",
    "fallback_llm",
    "openai_like",
]

CLIENT_TIMEOUT = 10.0
"""Seconds: the httpx timeout of every client (connect, and each read)."""
STALL_LIMIT = 2.0
"""Seconds without a first token, or between chunks, before a stream is abandoned."""
DEADLINE = 15.0
"""Seconds: our adapters' bound on a whole call (LiteLLM and LangChain have none)."""
BREAKER_THRESHOLD = 2
BREAKER_COOLDOWN = 2.0


class Client(Protocol):
    """One system, ready to answer: streams the text of an answer, piece by piece."""

    def stream(self, question: str) -> AsyncIterator[str]: ...

    def stream_sync(self, question: str) -> Iterator[str]: ...

    async def aclose(self) -> None: ...


@dataclass
class HttpClients:
    """A sync and an async httpx client with the common timeout and room for many streams."""

    connections: int = 100
    sync: httpx.Client = field(init=False)
    asynchronous: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        limits = httpx.Limits(
            max_connections=self.connections, max_keepalive_connections=self.connections
        )
        self.sync = httpx.Client(timeout=CLIENT_TIMEOUT, limits=limits)
        self.asynchronous = httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=limits)

    async def aclose(self) -> None:
        self.sync.close()
        await self.asynchronous.aclose()


def chat_openai(base_url: str, model: str, http: HttpClients, **options: Any) -> ChatOpenAI:
    """A `ChatOpenAI` for a fault-server model, without retries of its own."""
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key="bench",  # type: ignore[arg-type]
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=http.sync,
        http_async_client=http.asynchronous,
        **options,
    )


PRIMARY_WINDOW, BACKUP_WINDOW = 16_000, 128_000
"""Context windows the LlamaIndex LLMs declare (they must declare one; ChatOpenAI's is
unknown to the chain). The backup's is larger, as a backup for context-length failures is."""


def openai_like(
    base_url: str, model: str, http: HttpClients, *, context_window: int = PRIMARY_WINDOW
) -> OpenAILike:
    """An `OpenAILike` chat LLM for a fault-server model, without retries of its own."""
    return OpenAILike(
        model=model,
        api_base=base_url,
        api_key="bench",
        is_chat_model=True,
        context_window=context_window,
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=http.sync,
        async_http_client=http.asynchronous,
    )


def _health() -> Health:
    return Health(Breaker(failure_threshold=BREAKER_THRESHOLD, cooldown=BREAKER_COOLDOWN))


def fallback_chat_model(
    primary: BaseChatModel, backup: BaseChatModel, *, prefill: bool = False, **options: Any
) -> FallbackChatModel:
    """Our LangChain adapter as benchmarked: stall limits, a deadline and a breaker.

    ``options`` override those settings (or add others) by keyword.
    """
    second: BaseChatModel | ChatHop = ChatHop(backup, continuation="prefill") if prefill else backup
    settings: dict[str, Any] = {
        "first_token_timeout": STALL_LIMIT,
        "idle_timeout": STALL_LIMIT,
        "deadline": DEADLINE,
        "health": _health(),
        **options,
    }
    return FallbackChatModel(models=[primary, second], **settings)


def fallback_llm(primary: LLM, backup: LLM, *, prefill: bool = False) -> FallbackLLM:
    """Our LlamaIndex adapter as benchmarked: stall limits, a deadline and a breaker."""
    second: LLM | LLMHop = LLMHop(backup, continuation="prefill") if prefill else backup
    return FallbackLLM(
        [primary, second],
        first_token_timeout=STALL_LIMIT,
        idle_timeout=STALL_LIMIT,
        deadline=DEADLINE,
        health=_health(),
    )


class LangChainClient:
    """A LangChain runnable streamed with ``astream`` / ``stream``.

    ``trace`` keeps the last call's fallback trace, when the runnable reports one.
    """

    def __init__(self, runnable: Any, http: HttpClients) -> None:
        self.runnable = runnable
        self.http = http
        self.trace: dict[str, Any] | None = None

    async def stream(self, question: str) -> AsyncIterator[str]:
        async for chunk in self.runnable.astream(question):
            self.trace = chunk.response_metadata.get("fallback", self.trace)
            yield str(chunk.text)

    def stream_sync(self, question: str) -> Iterator[str]:
        for chunk in self.runnable.stream(question):
            self.trace = chunk.response_metadata.get("fallback", self.trace)
            yield str(chunk.text)

    async def aclose(self) -> None:
        await self.http.aclose()


class LlamaIndexClient:
    """A LlamaIndex LLM streamed with ``astream_chat`` / ``stream_chat``.

    ``trace`` keeps the last call's fallback trace, when the LLM reports one.
    """

    def __init__(self, llm: LLM, http: HttpClients) -> None:
        self.llm = llm
        self.http = http
        self.trace: dict[str, Any] | None = None

    async def stream(self, question: str) -> AsyncIterator[str]:
        messages = [ChatMessage(role="user", content=question)]
        async for response in await self.llm.astream_chat(messages):
            self.trace = response.additional_kwargs.get("fallback", self.trace)
            yield response.delta or ""

    def stream_sync(self, question: str) -> Iterator[str]:
        messages = [ChatMessage(role="user", content=question)]
        for response in self.llm.stream_chat(messages):
            self.trace = response.additional_kwargs.get("fallback", self.trace)
            yield response.delta or ""

    async def aclose(self) -> None:
        await self.http.aclose()


class LiteLLMClient:
    """A LiteLLM ``Router`` streamed with ``acompletion`` / ``completion``."""

    def __init__(self, base_url: str, backup: str) -> None:
        from litellm.router import Router
        from litellm.types.router import RetryPolicy

        def deployment(name: str) -> dict[str, Any]:
            return {
                "model_name": name,
                "litellm_params": {
                    "model": f"openai/{name}",
                    "api_base": base_url,
                    "api_key": "bench",
                    "timeout": CLIENT_TIMEOUT,
                    "stream_timeout": STALL_LIMIT,
                },
            }

        self.router = Router(
            model_list=[deployment(PRIMARY), deployment(backup)],
            fallbacks=[{PRIMARY: [backup]}],
            context_window_fallbacks=[{PRIMARY: [backup]}],
            num_retries=2,
            retry_policy=RetryPolicy(
                RateLimitErrorRetries=2,
                InternalServerErrorRetries=1,
                ServiceUnavailableErrorRetries=1,
                TimeoutErrorRetries=0,
                BadRequestErrorRetries=0,
                AuthenticationErrorRetries=0,
                ContentPolicyViolationErrorRetries=0,
                NotFoundErrorRetries=0,
                DefaultRetries=0,
            ),
            timeout=CLIENT_TIMEOUT,
            stream_timeout=STALL_LIMIT,
            allowed_fails=BREAKER_THRESHOLD,
            cooldown_time=BREAKER_COOLDOWN,
        )

    async def stream(self, question: str) -> AsyncIterator[str]:
        messages: Any = [{"role": "user", "content": question}]
        response = await self.router.acompletion(model=PRIMARY, messages=messages, stream=True)
        async for chunk in response:
            yield _litellm_text(chunk)

    def stream_sync(self, question: str) -> Iterator[str]:
        messages: Any = [{"role": "user", "content": question}]
        response: Any = self.router.completion(model=PRIMARY, messages=messages, stream=True)
        for chunk in response:
            yield _litellm_text(chunk)

    async def aclose(self) -> None:
        return None


def _litellm_text(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None)
    return str(choices[0].delta.content or "") if choices else ""


@dataclass(frozen=True, slots=True)
class System:
    """A system under test: how to build a fresh client of it for a scenario."""

    key: str
    label: str
    config: str
    build: Callable[[str, Scenario], Client]


def _bare(base_url: str, scenario: Scenario) -> Client:
    http = HttpClients()
    return LangChainClient(chat_openai(base_url, PRIMARY, http), http)


def _with_fallbacks(base_url: str, scenario: Scenario) -> Client:
    http = HttpClients()
    primary = chat_openai(base_url, PRIMARY, http)
    backup = chat_openai(base_url, scenario.backup_model, http)
    return LangChainClient(primary.with_fallbacks([backup]), http)


def _litellm(base_url: str, scenario: Scenario) -> Client:
    return LiteLLMClient(base_url, scenario.backup_model)


def _fallback_chat_model(base_url: str, scenario: Scenario) -> Client:
    http = HttpClients()
    primary = chat_openai(base_url, PRIMARY, http)
    backup = chat_openai(base_url, scenario.backup_model, http)
    return LangChainClient(fallback_chat_model(primary, backup, prefill=scenario.prefill), http)


def _fallback_llm(base_url: str, scenario: Scenario) -> Client:
    http = HttpClients()
    primary = openai_like(base_url, PRIMARY, http)
    backup = openai_like(base_url, scenario.backup_model, http, context_window=BACKUP_WINDOW)
    return LlamaIndexClient(fallback_llm(primary, backup, prefill=scenario.prefill), http)


_COMMON = f"max_retries=0, timeout={CLIENT_TIMEOUT:g}s"
SYSTEMS: tuple[System, ...] = (
    System("bare", "bare ChatOpenAI", f"primary only: ChatOpenAI({_COMMON})", _bare),
    System(
        "with_fallbacks",
        "LangChain with_fallbacks",
        f"ChatOpenAI({_COMMON}).with_fallbacks([ChatOpenAI({_COMMON})])",
        _with_fallbacks,
    ),
    System(
        "litellm",
        "LiteLLM Router",
        f"Router(fallbacks, context_window_fallbacks, num_retries=2, retry_policy="
        f"429:2/5xx:1/other:0, timeout={CLIENT_TIMEOUT:g}s, stream_timeout={STALL_LIMIT:g}s, "
        f"allowed_fails={BREAKER_THRESHOLD}, cooldown_time={BREAKER_COOLDOWN:g}s)",
        _litellm,
    ),
    System(
        "fallback_chat_model",
        "FallbackChatModel",
        f"with_backups(ChatOpenAI, ChatOpenAI; {_COMMON}), first_token_timeout="
        f"idle_timeout={STALL_LIMIT:g}s, deadline={DEADLINE:g}s, Health(Breaker("
        f"{BREAKER_THRESHOLD}, cooldown={BREAKER_COOLDOWN:g}s)); default policy",
        _fallback_chat_model,
    ),
    System(
        "fallback_llm",
        "FallbackLLM",
        f"FallbackLLM([OpenAILike, OpenAILike; {_COMMON}], first_token_timeout="
        f"idle_timeout={STALL_LIMIT:g}s, deadline={DEADLINE:g}s, Health(Breaker("
        f"{BREAKER_THRESHOLD}, cooldown={BREAKER_COOLDOWN:g}s)); default policy",
        _fallback_llm,
    ),
)
