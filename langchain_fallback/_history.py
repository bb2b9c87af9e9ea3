"""Per-hop history: provider-only state stays with the provider (and model) that wrote it.

The rules are the core's (`fallback_core._history`); here they are applied to
LangChain messages. Before each hop gets the messages, other models' signed
``thinking`` / ``redacted_thinking`` blocks are dropped, and ``cache_control``
keys for a hop that is not ``ChatAnthropic``; a hop of the same model keeps
its own thinking intact. A ``ChatAnthropic`` hop with thinking enabled whose
request's final assistant turn opens with no thinking of its own (an OpenAI
hop made the tool call the tool results answer; a continuation's prefill)
runs that request with thinking disabled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from fallback_core._history import THINKING_BLOCKS, HistoryReader, Turn, thinking_override

__all__ = ["for_model", "thinking_for"]


def _reader_for(model: BaseChatModel) -> HistoryReader:
    """What the history rules need to know about ``model``."""
    name = getattr(model, "model", None) or getattr(model, "model_name", None)
    return HistoryReader(_is_anthropic(model), name if isinstance(name, str) else None)


def for_model(messages: Sequence[BaseMessage], model: BaseChatModel) -> list[BaseMessage]:
    """``messages`` as ``model`` can take them: other models' thinking and foreign keys dropped."""
    reader = _reader_for(model)
    return [_message_for(message, reader) for message in messages]


def thinking_for(
    model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: dict[str, Any], hop: str
) -> BaseChatModel:
    """``model``, or a copy with thinking disabled where Anthropic would refuse ``messages``.

    A ``thinking`` call option (``kwargs``, changed in place) is turned off instead.
    """
    if not _is_anthropic(model):
        return model
    own = getattr(model, "thinking", None)
    setting = own if own is not None else kwargs.get("thinking")
    off = thinking_override(setting, [t for m in messages if (t := _turn(m))], hop)
    if off is None:
        return model
    if own is None:
        kwargs["thinking"] = off
        return model
    return model.model_copy(update={"thinking": off})


def _message_for(message: BaseMessage, reader: HistoryReader) -> BaseMessage:
    if not isinstance(message.content, list):
        return message
    written_by = _written_by(message) if isinstance(message, AIMessage) else None
    blocks: list[str | dict[str, Any]] = []
    for block in message.content:
        if not isinstance(block, dict):
            blocks.append(block)
        elif (kept := reader.block(block, written_by)) is not None:
            blocks.append(dict(kept) if kept is not block else block)
    if blocks == message.content:
        return message
    return message.model_copy(update={"content": blocks or ""})


def _turn(message: BaseMessage) -> Turn | None:
    if isinstance(message, SystemMessage):
        return None
    if isinstance(message, ToolMessage):
        return ("tool", False)
    if not isinstance(message, AIMessage):
        return ("user", False)
    content = message.content
    first = content[0] if isinstance(content, list) and content else None
    return ("assistant", isinstance(first, Mapping) and first.get("type") in THINKING_BLOCKS)


def _written_by(message: AIMessage) -> object:
    return message.response_metadata.get("model_name") or message.response_metadata.get("model")


def _is_anthropic(model: BaseChatModel) -> bool:
    """Whether the model speaks Anthropic's Messages API (ChatAnthropic and its subclasses)."""
    return any(cls.__name__ == "ChatAnthropic" for cls in type(model).__mro__)
