"""Anthropic-only content blocks, as another provider can take them (see `_history`).

Blocks are the dicts of each provider's wire format (Anthropic's Messages API,
OpenAI's chat completions), which is also how LangChain messages carry them.
A block another provider takes as it is comes back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import ConfigurationError

__all__ = ["ANTHROPIC_BLOCKS", "for_others"]

_SERVER_CALLS = frozenset({"server_tool_use", "mcp_tool_use"})
_SERVER_RESULTS = frozenset(
    {
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_result",
    }
)
ANTHROPIC_BLOCKS = (
    _SERVER_CALLS | _SERVER_RESULTS | {"search_result", "document", "container_upload"}
)
"""Content block types only Anthropic's Messages API defines."""

_READABLE = ("title", "url", "source", "text", "stdout", "stderr", "error_code", "content")
"""The keys of a server tool's result a model can read, in the order they are written."""


def for_others(block: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """An Anthropic-only ``block`` as a hop of another provider may get it; None: dropped."""
    kind = block.get("type")
    if kind == "image" and _source_type(block) == "file":
        raise _unreadable(block, "an image by Anthropic file id")
    if kind in _SERVER_CALLS:
        return None
    if kind in _SERVER_RESULTS:
        return _text(f"[{kind}]\n" + "\n".join(_readable(block.get("content"))))
    if kind == "search_result":
        return _text(
            "\n".join(_readable({k: block.get(k) for k in ("title", "source", "content")}))
        )
    if kind == "document":
        return _document_for_others(block)
    if kind == "container_upload":
        raise _unreadable(block, "a file in an Anthropic code-execution container")
    return block


def _document_for_others(block: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ``document``: OpenAI's ``file`` part for inline data, text for a text source."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, Mapping) else None
    title = block.get("title")
    if kind == "base64" and isinstance(source, Mapping):
        data = f"data:{source.get('media_type')};base64,{source.get('data')}"
        name = title if isinstance(title, str) else "document.pdf"
        return {"type": "file", "file": {"filename": name, "file_data": data}}
    if kind in ("text", "content") and isinstance(source, Mapping):
        body = source.get("data") if kind == "text" else source.get("content")
        return _text("\n".join(_readable({"title": title, "text": body})))
    raise _unreadable(block, f"a document by {kind or 'unknown source'}")


def _source_type(block: Mapping[str, Any]) -> object:
    source = block.get("source")
    return source.get("type") if isinstance(source, Mapping) else None


def _readable(value: object) -> list[str]:
    """The strings a model can read in ``value``: text, titles, URLs, output, never ciphertext."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Mapping):
        if value.get("type") == "base64":
            return []
        lines = [line for key in _READABLE for line in _readable(value.get(key))]
        lines += _readable(value.get("data")) if value.get("type") == "text" else []
        return lines
    if isinstance(value, list):
        return [line for item in value for line in _readable(item)]
    return []


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _unreadable(block: Mapping[str, Any], what: str) -> ConfigurationError:
    return ConfigurationError(
        f"content block {block.get('type')!r}",
        f"{what}, which the hop's provider cannot read",
        "content this hop's provider accepts, or a hop of the provider that took it",
    )
