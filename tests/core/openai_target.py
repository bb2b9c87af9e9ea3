"""A minimal hop target over the real openai SDK, standing in for an adapter in HTTP tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai

from fallback_core import Continuation, Delta, ToolCallChunk, Usage


class OpenAITarget:
    """Streams chat completions from ``model`` with openai's own sync and async clients."""

    def __init__(self, base_url: str, model: str, *, timeout: float = 10.0) -> None:
        self.model = model
        self._options: dict[str, Any] = {
            "base_url": base_url,
            "api_key": "test",
            "max_retries": 0,
            "timeout": timeout,
        }
        self.client = openai.OpenAI(**self._options)
        # An async client's pooled connections belong to the event loop that
        # opened them and cannot be closed from another, so each async call
        # opens its own client and closes it before its loop ends.

    def _params(self, request: Any, continuation: Continuation | None) -> dict[str, Any]:
        messages = list(request["messages"])
        if continuation is not None:
            messages.append({"role": "assistant", "content": continuation.text})
            if continuation.strategy == "instruct":
                messages.append({"role": "user", "content": continuation.instruction})
        return {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        with self.client.chat.completions.create(**self._params(request, continuation)) as chunks:
            for chunk in chunks:
                yield to_delta(chunk)

    async def astream(
        self, request: Any, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        params = self._params(request, continuation)
        async with (
            openai.AsyncOpenAI(**self._options) as aclient,
            await aclient.chat.completions.create(**params) as chunks,
        ):
            async for chunk in chunks:
                yield to_delta(chunk)

    def close(self) -> None:
        """Close the sync client's connection pool (each async call closes its own)."""
        self.client.close()


def to_delta(chunk: Any) -> Delta:
    usage = None
    if chunk.usage is not None:
        u = chunk.usage
        usage = Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
    if not chunk.choices:
        return Delta(usage=usage, model=chunk.model)
    choice = chunk.choices[0]
    calls = tuple(
        ToolCallChunk(
            tc.index,
            tc.id,
            tc.function.name if tc.function else None,
            (tc.function.arguments or "") if tc.function else "",
        )
        for tc in choice.delta.tool_calls or ()
    )
    return Delta(
        text=choice.delta.content or "",
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        usage=usage,
        model=chunk.model,
    )
