"""A hop model's stream, read without a LangChain run of its own when nothing observes it.

``BaseChatModel.stream`` / ``astream`` open a run for every call: a callback
manager, ``on_chat_model_start``, each chunk reported and kept in a list for
``on_llm_end``. When no handler would see that run (the hops are isolated -
no ``nested_runs`` - and neither the model's own callbacks, ``verbose``,
debug output, tracing nor a configure hook adds one) it is pure cost: the
kept chunks are most of the memory a stream through the chain takes beyond
the bare model's. `hop_stream` / `hop_astream` then read the model's
``_stream`` / ``_astream`` directly and do what ``stream`` / ``astream`` do
that the caller can see: the same messages (``_convert_input``,
``_normalize_messages``), ``stop`` and call options (without
``ls_structured_output_format``, which ``stream`` takes out), the rate
limiter, each chunk's ``generation_info`` merged into its
``response_metadata``, a run-style id (``lc_run--<uuid7>``) on chunks
without one, the closing empty ``chunk_position="last"`` chunk, and the
error on a stream that yields nothing.

Anything else takes ``stream`` / ``astream`` itself: a model whose class
overrides them, one that should not stream (its ``invoke`` answers),
``output_version="v1"`` (content rewritten to standard blocks), a
langchain-core without the helpers used here, or any handler configured.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import aclosing
from typing import Any, cast

from langchain_core.callbacks import CallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.utils.uuid import uuid7

from ._callbacks import configured

try:
    from langchain_core.language_models._utils import _normalize_messages
    from langchain_core.language_models.chat_models import _gen_info_and_msg_metadata
    from langchain_core.utils.utils import LC_ID_PREFIX
except ImportError:  # pragma: no cover - another langchain-core: always the model's stream
    _READABLE = False
else:
    _READABLE = True

__all__ = ["hop_astream", "hop_stream", "reads_directly"]

_EMPTY = "No generation chunks were returned"


def reads_directly(
    model: BaseChatModel, kwargs: Mapping[str, Any], config: RunnableConfig, *, is_async: bool
) -> bool:
    """Whether ``model``'s stream for this call can be read without its run (see module).

    Call it where the stream's first read runs (inside `HopScope.starting`):
    whether tracing or a configure hook adds a handler depends on that context.
    """
    if not _READABLE or not isinstance(model, BaseChatModel):
        return False
    cls = type(model)
    if (cls.astream if is_async else cls.stream) is not (
        BaseChatModel.astream if is_async else BaseChatModel.stream
    ):
        return False
    if model.output_version == "v1":
        return False
    if not model._should_stream(async_api=is_async, **{**kwargs, "stream": True}):
        return False
    return not configured(model, config, CallbackManager).handlers


def _prepared(
    model: BaseChatModel, messages: list[BaseMessage], kwargs: Mapping[str, Any]
) -> tuple[list[BaseMessage], dict[str, Any], str]:
    """The messages and options ``stream`` hands to ``_stream``, and the id its run gives."""
    options = dict(kwargs)
    options.pop("ls_structured_output_format", None) or options.pop(
        "structured_output_format", None
    )
    inputs = _normalize_messages(model._convert_input(messages).to_messages())
    return inputs, options, f"{LC_ID_PREFIX}-{uuid7()}"


def _marked(chunk: ChatGenerationChunk, run_id: str) -> BaseMessage:
    """The chunk's message as ``stream`` yields it: an id, and generation info as metadata."""
    message = chunk.message
    if message.id is None:
        message.id = run_id
    message.response_metadata = _gen_info_and_msg_metadata(chunk)
    return message


def _closing(last: BaseMessage | None, run_id: str) -> AIMessageChunk | None:
    """The empty last chunk ``stream`` adds when the model's last chunk did not say it was."""
    if last is None:
        raise ValueError(_EMPTY)
    if isinstance(last, AIMessageChunk) and not last.chunk_position:
        content: str | list[str | dict[str, Any]] = "" if isinstance(last.content, str) else []
        return AIMessageChunk(content=content, chunk_position="last", id=run_id)
    return None


def hop_stream(
    model: BaseChatModel,
    messages: list[BaseMessage],
    config: RunnableConfig,
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
) -> Iterator[BaseMessage]:
    """``model.stream(messages, config, stop=stop, **kwargs)``, its run skipped when unobserved."""
    if not reads_directly(model, kwargs, ensure_config(config), is_async=False):
        yield from model.stream(messages, config, stop=stop, **kwargs)
        return
    inputs, options, run_id = _prepared(model, messages, kwargs)
    if model.rate_limiter:
        model.rate_limiter.acquire(blocking=True)
    last: BaseMessage | None = None
    for chunk in model._stream(inputs, stop=stop, **options):
        last = _marked(chunk, run_id)
        yield last
    closing = _closing(last, run_id)
    if closing is not None:
        yield closing


async def hop_astream(
    model: BaseChatModel,
    messages: list[BaseMessage],
    config: RunnableConfig,
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
) -> AsyncIterator[BaseMessage]:
    """The async `hop_stream` (``model.astream``)."""
    if not reads_directly(model, kwargs, ensure_config(config), is_async=True):
        chunks = cast(
            "AsyncGenerator[BaseMessage, None]",
            model.astream(messages, config, stop=stop, **kwargs),
        )
        async with aclosing(chunks):
            async for message in chunks:
                yield message
        return
    inputs, options, run_id = _prepared(model, messages, kwargs)
    if model.rate_limiter:
        await model.rate_limiter.aacquire(blocking=True)
    last: BaseMessage | None = None
    parts = cast(
        "AsyncGenerator[ChatGenerationChunk, None]", model._astream(inputs, stop=stop, **options)
    )
    async with aclosing(parts):
        async for chunk in parts:
            last = _marked(chunk, run_id)
            yield last
    closing = _closing(last, run_id)
    if closing is not None:
        yield closing
