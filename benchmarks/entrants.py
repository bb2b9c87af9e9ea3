"""The entrants of the healthy-path matrix: every system, ready to make one call of each kind.

An entrant is one system in one framework (LangChain or LlamaIndex), built
once against the fault server, and able to make each call that framework
offers - streamed or not, sync or async - returning the answer's text. The
bare model is the reference every ratio is taken against; "bare, folded
stream" is the bare model answering a non-streamed call by streaming and
folding (what our adapters do inside), so the matrix shows what a hop's own
non-streaming API saves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms import LLM

from langchain_fallback import FallbackChatModel
from llamaindex_fallback import FallbackLLM

from .scenarios import BACKUP, PRIMARY, QUESTION
from .systems import (
    BACKUP_WINDOW,
    PRIMARY_WINDOW,
    STALL_LIMIT,
    HttpClients,
    LiteLLMClient,
    chat_openai,
    fallback_chat_model,
    fallback_llm,
    openai_like,
)

__all__ = ["CALLS", "LABELS", "NO_LIMITS", "SHORT", "Call", "Entrant", "entrants"]


@dataclass(frozen=True, slots=True)
class Call:
    """One way of asking a framework for an answer."""

    framework: str
    name: str
    is_async: bool
    streamed: bool
    answers: int = 1
    """Answers one call returns (``batch`` asks `BATCH` questions at once)."""


BATCH = 4
"""Questions per ``batch`` call (LangChain runs them on a thread pool)."""

CALLS: tuple[Call, ...] = (
    Call("LangChain", "stream", is_async=False, streamed=True),
    Call("LangChain", "astream", is_async=True, streamed=True),
    Call("LangChain", "invoke", is_async=False, streamed=False),
    Call("LangChain", "ainvoke", is_async=True, streamed=False),
    Call("LangChain", "batch", is_async=False, streamed=False, answers=BATCH),
    Call("LlamaIndex", "stream_chat", is_async=False, streamed=True),
    Call("LlamaIndex", "astream_chat", is_async=True, streamed=True),
    Call("LlamaIndex", "chat", is_async=False, streamed=False),
    Call("LlamaIndex", "achat", is_async=True, streamed=False),
    Call("LlamaIndex", "complete", is_async=False, streamed=False),
)

Sync = Callable[[], str]
Async = Callable[[], Any]  # returns an awaitable of the text


@dataclass(frozen=True, slots=True)
class Entrant:
    """One system of one framework, and its calls (by `Call.name`) that each return the text.

    A streaming entrant also has ``pieces``: its async stream, the text chunk by chunk.
    """

    key: str
    label: str
    framework: str
    calls: dict[str, Callable[[], Any]]

    def supports(self, call: Call) -> bool:
        return call.framework == self.framework and call.name in self.calls


def _langchain_calls(runnable: Any, *, streamed: bool = True, plain: bool = True) -> dict[str, Any]:
    """A LangChain runnable's four calls; ``streamed`` / ``plain`` keep only those kinds."""

    def stream() -> str:
        return "".join(chunk.text for chunk in runnable.stream(QUESTION))

    async def astream() -> str:
        return "".join([chunk.text async for chunk in runnable.astream(QUESTION)])

    def invoke() -> str:
        message: BaseMessage = runnable.invoke(QUESTION)
        return message.text

    async def ainvoke() -> str:
        message: BaseMessage = await runnable.ainvoke(QUESTION)
        return message.text

    async def pieces() -> AsyncIterator[str]:
        async for chunk in runnable.astream(QUESTION):
            yield chunk.text

    def batch() -> str:
        texts = {message.text for message in runnable.batch([QUESTION] * BATCH)}
        return texts.pop() if len(texts) == 1 else ""

    return _chosen(
        {"stream": stream, "astream": astream, "pieces": pieces} if streamed else {},
        {"invoke": invoke, "ainvoke": ainvoke, "batch": batch} if plain else {},
    )


def _chosen(*groups: dict[str, Any]) -> dict[str, Any]:
    """The calls of every group asked for, in one table."""
    return {name: call for group in groups for name, call in group.items()}


def _messages() -> list[ChatMessage]:
    return [ChatMessage(role="user", content=QUESTION)]


def _llamaindex_calls(llm: LLM, *, streamed: bool = True, plain: bool = True) -> dict[str, Any]:
    def stream_chat() -> str:
        return "".join(r.delta or "" for r in llm.stream_chat(_messages()))

    async def astream_chat() -> str:
        return "".join([r.delta or "" async for r in await llm.astream_chat(_messages())])

    def chat() -> str:
        return str(llm.chat(_messages()).message.content)

    async def achat() -> str:
        return str((await llm.achat(_messages())).message.content)

    async def pieces() -> AsyncIterator[str]:
        async for r in await llm.astream_chat(_messages()):
            yield r.delta or ""

    def complete() -> str:
        return llm.complete(QUESTION).text

    return _chosen(
        {"stream_chat": stream_chat, "astream_chat": astream_chat, "pieces": pieces}
        if streamed
        else {},
        {"chat": chat, "achat": achat, "complete": complete} if plain else {},
    )


def _folded_llamaindex(llm: LLM) -> dict[str, Any]:
    """``chat`` / ``achat`` / ``complete`` answered by the bare LLM's stream, folded."""

    def chat() -> str:
        responses = list(llm.stream_chat(_messages()))
        return str(responses[-1].message.content if responses else "")

    def complete() -> str:
        completions = list(llm.stream_complete(QUESTION))
        return completions[-1].text if completions else ""

    async def achat() -> str:
        responses = [r async for r in await llm.astream_chat(_messages())]
        return str(responses[-1].message.content if responses else "")

    return {"chat": chat, "achat": achat, "complete": complete}


def _litellm_calls(client: LiteLLMClient) -> dict[str, Any]:
    messages: Any = [{"role": "user", "content": QUESTION}]

    def stream() -> str:
        return "".join(client.stream_sync(QUESTION))

    async def astream() -> str:
        return "".join([piece async for piece in client.stream(QUESTION)])

    def invoke() -> str:
        response: Any = client.router.completion(model=PRIMARY, messages=messages)
        return str(response.choices[0].message.content)

    async def ainvoke() -> str:
        response: Any = await client.router.acompletion(model=PRIMARY, messages=messages)
        return str(response.choices[0].message.content)

    return {"stream": stream, "astream": astream, "invoke": invoke, "ainvoke": ainvoke}


NO_LIMITS = {"first_token_timeout": None, "idle_timeout": None}
"""Our adapters with their stall limits lifted (their defaults are 60 s and 30 s)."""


def entrants(base_url: str, http: HttpClients, keys: Sequence[str] | None = None) -> list[Entrant]:
    """Every entrant of both frameworks against the server at `base_url` (or those in `keys`)."""

    def model(name: str = PRIMARY, **options: Any) -> Any:
        return chat_openai(base_url, name, http, **options)

    def llm(name: str = PRIMARY) -> LLM:
        window = BACKUP_WINDOW if name == BACKUP else PRIMARY_WINDOW
        return openai_like(base_url, name, http, context_window=window)

    makers: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
        ("LangChain", "bare"): lambda: _langchain_calls(model()),
        ("LangChain", "bare_folded"): lambda: _langchain_calls(
            model(streaming=True), streamed=False
        ),
        ("LangChain", "with_fallbacks"): lambda: _langchain_calls(
            model().with_fallbacks([model(BACKUP)])
        ),
        ("LangChain", "litellm"): lambda: _litellm_calls(LiteLLMClient(base_url, BACKUP)),
        ("LangChain", "ours"): lambda: _langchain_calls(
            FallbackChatModel([model(), model(BACKUP)], **NO_LIMITS)
        ),
        ("LangChain", "ours_limits"): lambda: _langchain_calls(
            fallback_chat_model(model(), model(BACKUP))
        ),
        ("LlamaIndex", "bare"): lambda: _llamaindex_calls(llm()),
        ("LlamaIndex", "bare_folded"): lambda: _folded_llamaindex(llm()),
        ("LlamaIndex", "ours"): lambda: _llamaindex_calls(
            FallbackLLM([llm(), llm(BACKUP)], **NO_LIMITS)
        ),
        ("LlamaIndex", "ours_limits"): lambda: _llamaindex_calls(fallback_llm(llm(), llm(BACKUP))),
    }
    return [
        Entrant(key, SHORT[key], framework, make())
        for (framework, key), make in makers.items()
        if keys is None or key in keys
    ]


SHORT = {
    "bare": "bare",
    "bare_folded": "bare, folded stream",
    "with_fallbacks": "with_fallbacks",
    "litellm": "LiteLLM Router",
    "ours": "ours",
    "ours_limits": "ours + limits",
}
LABELS = {
    "bare": "bare model",
    "bare_folded": "bare model, stream folded (non-streamed calls only)",
    "with_fallbacks": "LangChain `with_fallbacks` (LangChain only)",
    "litellm": "LiteLLM Router (its ratio is against the bare ChatOpenAI)",
    "ours": "ours, stall limits off",
    "ours_limits": f"ours + limits: stall limits {STALL_LIMIT:g} s, a deadline and a breaker",
}
