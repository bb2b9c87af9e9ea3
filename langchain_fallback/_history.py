"""Per-hop history: provider-only state stays with the provider (and model) that wrote it.

A conversation whose earlier turns one model answered carries that model's
state: Anthropic's signed ``thinking`` / ``redacted_thinking`` blocks and
``cache_control`` markers. Another model refuses them - Anthropic answers a
thinking block it did not sign for the request's model with 400 "Invalid
`signature` in `thinking` block", OpenAI a content part key it does not
define - so before each hop gets the messages, what it cannot accept is
dropped. A hop of the same provider and model keeps its own thinking intact:
Anthropic needs it back to continue a tool-use turn with thinking on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

__all__ = ["for_model"]

_THINKING = frozenset({"thinking", "redacted_thinking"})
_ANTHROPIC_KEYS = frozenset({"cache_control"})


def for_model(messages: Sequence[BaseMessage], model: BaseChatModel) -> list[BaseMessage]:
    """``messages`` as ``model`` can take them: other models' thinking and foreign keys dropped."""
    anthropic = _is_anthropic(model)
    name = getattr(model, "model", None) or getattr(model, "model_name", None)
    return [_message_for(message, anthropic, name) for message in messages]


def _message_for(message: BaseMessage, anthropic: bool, name: object) -> BaseMessage:
    if not isinstance(message.content, list):
        return message
    own = anthropic and isinstance(message, AIMessage) and _written_by(message) == name
    blocks: list[str | dict[str, Any]] = []
    for block in message.content:
        if not isinstance(block, dict):
            blocks.append(block)
        elif block.get("type") in _THINKING and not own:
            continue
        elif not anthropic and _ANTHROPIC_KEYS & block.keys():
            blocks.append({k: v for k, v in block.items() if k not in _ANTHROPIC_KEYS})
        else:
            blocks.append(block)
    if blocks == message.content:
        return message
    return message.model_copy(update={"content": blocks or ""})


def _written_by(message: AIMessage) -> object:
    return message.response_metadata.get("model_name") or message.response_metadata.get("model")


def _is_anthropic(model: BaseChatModel) -> bool:
    """Whether the model speaks Anthropic's Messages API (ChatAnthropic and its subclasses)."""
    return any(cls.__name__ == "ChatAnthropic" for cls in type(model).__mro__)
