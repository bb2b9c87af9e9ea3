"""OpenAI-compatible hops pointed at the local fault server, as the HTTP tests build them."""

from __future__ import annotations

from typing import Any

import httpx
from llama_index.llms.openai_like import OpenAILike

from fallback_core.testing import FaultServer, ModelScript

SHARED = (
    "This is the shared answer. Fallback chains keep a pipeline answering when one provider "
    "stumbles. A stream that breaks halfway is picked up by the next model in line, and the "
    "caller sees one answer that never needs to say which model wrote it."
)


def models(**extra: Any) -> dict[str, ModelScript]:
    """Scripts for "primary" and "backup" that share one canonical answer, so continuing works."""
    return {name: ModelScript(answer=SHARED, **extra) for name in ("primary", "backup")}


def openai_like(server: FaultServer, model: str, **kwargs: Any) -> OpenAILike:
    """A real OpenAI-compatible client for ``model`` on ``server``, with no retries of its own."""
    options: dict[str, Any] = {
        "is_chat_model": True,
        "is_function_calling_model": True,
        "context_window": 16_000,
        "max_retries": 0,
        "timeout": 10.0,
        **kwargs,
    }
    # A plain httpx client: openai's default one schedules its own aclose() on whatever
    # event loop runs when it is garbage-collected - a later test's, long after this one.
    # Neither loads a CA bundle: the fault server speaks plain HTTP.
    timeout = options["timeout"]
    options.setdefault("async_http_client", httpx.AsyncClient(timeout=timeout, verify=False))
    options.setdefault("http_client", httpx.Client(timeout=timeout, verify=False))
    return OpenAILike(model=model, api_base=server.base_url, api_key="test", **options)
