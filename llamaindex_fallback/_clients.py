"""What each hop asks of its LLM's client, without changing the caller's LLM.

- Usage in the stream: the chain always streams, and OpenAI's API reports a
  stream's token counts only when asked (``stream_options={"include_usage":
  true}``; the counts come in a last chunk with no choices). So every call to
  an LLM of the OpenAI family (``OpenAI``, ``OpenAILike`` and the
  OpenAI-compatible integrations built on them) asks for them, as the bare
  LLM's non-streaming ``chat`` reports them. An LLM given ``stream_options``
  in its own ``additional_kwargs`` keeps them (those win); ``LLMHop(llm,
  stream_usage=False)`` asks for nothing, for an endpoint that refuses them.
- A report when the request leaves: the httpx client the LLM's SDK client
  sends through gets `fallback_core.watch_requests`, so the hop's first-token
  wait counts from the moment the request is sent, not from when it started
  waiting for a free connection (or the process was busy with other calls).
  The SDK clients an LLM reuses are made, and watched, when its hop is built.
  The hook does nothing outside a chain's attempt.
- Streaming where the SDK refuses a whole reply: Anthropic's SDK raises
  ``ValueError`` before sending a non-streaming request whose ``max_tokens``
  may take over ten minutes (more than 21,333 tokens, or a model's own
  non-streaming cap), when its client keeps the default timeout
  (`streams_only`). Such a hop streams even for a non-streamed call.
- Closing what an abandoned stream leaves open: the SDK streams held by the
  generators suspended under an integration's stream (`suspended_streams`).
"""

from __future__ import annotations

import gc
import types
from typing import Any

from llama_index.core.llms import LLM

from fallback_core import watch_requests
from fallback_core._toolkit import refuses_unstreamed

__all__ = [
    "asks_for_usage",
    "streams_only",
    "suspended_streams",
    "usage_options",
    "watch_llm_requests",
]

_OPENAI_FAMILY = "llama_index.llms.openai.base.OpenAI"


def asks_for_usage(llm: LLM, stream_usage: bool | None = None) -> bool:
    """Whether calls to ``llm`` ask it to stream its token usage.

    ``stream_usage`` None: the OpenAI family is asked; True: any LLM is;
    False: none is.
    """
    if stream_usage is not None:
        return stream_usage
    return _OPENAI_FAMILY in {f"{c.__module__}.{c.__qualname__}" for c in type(llm).__mro__}


def usage_options() -> dict[str, Any]:
    """The call keywords that ask for a stream's usage (a fresh dict: the SDK may keep it)."""
    return {"stream_options": {"include_usage": True}}


def streams_only(llm: LLM, kwargs: dict[str, Any], *, is_async: bool) -> bool:
    """Whether ``llm``'s SDK would refuse this call's non-streaming request (see above).

    Asks the anthropic SDK's own check, as its ``messages.create`` does.
    """
    client = getattr(llm, "_aclient" if is_async else "_client", None)
    max_tokens = kwargs.get("max_tokens", getattr(llm, "max_tokens", None))
    name = kwargs.get("model", getattr(llm, "model", None))
    return refuses_unstreamed(client, max_tokens, name, kwargs.get("timeout"))


def watch_llm_requests(llm: LLM, *, is_async: bool) -> bool:
    """Have the client ``llm`` is about to send through report when its request leaves.

    Uses what the integrations hold: the ``http_client`` an OpenAI-family LLM
    was given, else the SDK client it reuses between calls (``reuse_client``,
    the default); else an SDK client kept as ``_client`` / ``_aclient`` (the
    Anthropic integration). False when there is none to watch (an LLM making a
    new client per call).
    """
    given = getattr(llm, "_async_http_client" if is_async else "_http_client", None)
    if given is not None:
        return watch_requests(given)
    get_client = getattr(llm, "_get_aclient" if is_async else "_get_client", None)
    if not callable(get_client):
        return watch_requests(getattr(llm, "_aclient" if is_async else "_client", None))
    if getattr(llm, "reuse_client", False) is not True:
        return False
    try:
        client = get_client()
    except Exception:  # let the call itself report what is wrong with the client
        return False
    return watch_requests(client)


def suspended_streams(root: object, limit: int = 32) -> list[Any]:
    """SDK streams (openai's, anthropic's ``Stream``) held by generators suspended under ``root``.

    Follows only generators - what each holds on its frame - up to ``limit`` of them.
    """
    found: list[Any] = []
    todo: list[object] = [root]
    seen: set[int] = set()
    while todo and len(seen) < limit:
        generator = todo.pop()
        if id(generator) in seen:
            continue
        seen.add(id(generator))
        for held in gc.get_referents(generator):
            if isinstance(held, types.GeneratorType):
                todo.append(held)
            elif _is_sdk_stream(held):
                found.append(held)
    return found


def _is_sdk_stream(obj: object) -> bool:
    return (
        type(obj).__name__ == "Stream"
        and callable(getattr(obj, "close", None))
        and hasattr(obj, "response")
    )
