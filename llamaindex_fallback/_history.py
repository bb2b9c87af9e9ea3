"""Per-hop history: provider-only state stays with the provider (and model) that wrote it.

The rules are the core's (`fallback_core._history`); here they are applied to
LlamaIndex messages, on the copies each hop is sent. A ``ThinkingBlock``
reaches an ``Anthropic`` hop only in an assistant message of the model that
wrote it (``additional_information["model"]``, which `FallbackLLM` records):
``Anthropic`` sends every thinking block with its signature, and the API
refuses one it did not sign for that model. ``CachePoint`` blocks and a
message's ``cache_control`` reach ``Anthropic`` hops only (``OpenAI`` raises
on a ``CachePoint``). LlamaIndex's own citation blocks are Anthropic's alone
(``OpenAI`` raises on both): another hop gets a ``CitableBlock`` (the user's
search result) as the text the core rule makes of a ``search_result``, its
images and documents kept, and no ``CitationBlock`` (a cited passage of a
Claude answer, whose text the answer already holds; ``Anthropic`` drops them
too). An ``Anthropic`` hop with thinking enabled whose
request's final assistant turn opens with no thinking of its own (an OpenAI
hop made the tool call the tool results answer; a continuation's prefill)
runs that request with thinking disabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    CitableBlock,
    CitationBlock,
    ContentBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
)
from llama_index.core.llms import LLM

from fallback_core._history import HistoryReader, Turn, thinking_override

from ._thinking import WRITER_KEY

__all__ = ["reader_for", "sanitise", "thinking_options"]

_ANTHROPIC = "llama_index.llms.anthropic.base.Anthropic"
_TOOL_ROLES = (MessageRole.TOOL, MessageRole.FUNCTION)


def reader_for(llm: LLM, model: str | None) -> HistoryReader:
    """What the history rules need to know about ``llm`` (serving ``model``)."""
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(llm).__mro__}
    return HistoryReader(_ANTHROPIC in names, model)


def sanitise(messages: Sequence[ChatMessage], reader: HistoryReader) -> None:
    """Drop from ``messages`` (the hop's own copies) what ``reader``'s hop must not get."""
    for message in messages:
        writer = message.role == MessageRole.ASSISTANT
        message.blocks = [
            kept
            for block in message.blocks
            if not (
                (isinstance(block, CachePoint) and not reader.keeps_key("cache_control"))
                or (isinstance(block, CitationBlock) and not reader.anthropic)
                or (
                    isinstance(block, ThinkingBlock)
                    and not (writer and reader.keeps_thinking(_written_by(block)))
                )
            )
            for kept in _citable_for(block, reader)
        ]
        if not reader.keeps_key("cache_control"):
            message.additional_kwargs.pop("cache_control", None)


def _citable_for(block: ContentBlock, reader: HistoryReader) -> list[ContentBlock]:
    """``block``; for a hop that is not Anthropic's, a ``CitableBlock`` as text and its media."""
    if reader.anthropic or not isinstance(block, CitableBlock):
        return [block]
    texts = [{"type": "text", "text": b.text} for b in block.content if isinstance(b, TextBlock)]
    search = {"type": "search_result", "title": block.title, "source": block.source}
    text = reader.block({**search, "content": texts}, None)
    media = [b for b in block.content if not isinstance(b, TextBlock)]
    return [TextBlock(text=text["text"]) if text else block, *media]


def thinking_options(
    llm: LLM,
    reader: HistoryReader,
    messages: Sequence[ChatMessage],
    kwargs: dict[str, Any],
    hop: str,
) -> dict[str, Any]:
    """``kwargs``, with thinking disabled where Anthropic would refuse ``messages``."""
    if not reader.anthropic:
        return kwargs
    setting = kwargs.get("thinking", getattr(llm, "thinking_dict", None))
    off = thinking_override(setting, [t for m in messages if (t := _turn(m))], hop)
    return kwargs if off is None else {**kwargs, "thinking": off}


def _turn(message: ChatMessage) -> Turn | None:
    if message.role == MessageRole.SYSTEM:
        return None
    if message.role in _TOOL_ROLES:
        return ("tool", False)
    if message.role != MessageRole.ASSISTANT:
        return ("user", False)
    sent = [b for b in message.blocks if not (isinstance(b, TextBlock) and not b.text)]
    first = sent[0] if sent else None
    return ("assistant", isinstance(first, ThinkingBlock) and bool(first.content))


def _written_by(block: ThinkingBlock) -> object:
    return block.additional_information.get(WRITER_KEY)
