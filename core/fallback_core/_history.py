"""Provider-only state in a conversation: which hop may be sent what.

A conversation whose earlier turns one model answered carries that model's
state, which both adapters strip per hop by these rules, each on its own
message types:

- Anthropic's ``thinking`` / ``redacted_thinking`` blocks are signed by the
  API for the model that wrote them. Another model refuses them - Anthropic
  with 400 "Invalid `signature` in `thinking` block", OpenAI as a content
  part it does not define - so only an Anthropic hop of the model that wrote
  them gets them back (it needs them to go on with a tool-use turn).
- ``cache_control`` markers and the ``citations`` of a text block are
  Anthropic's alone: no other hop gets them (the text stays).
- Anthropic-only content blocks go to Anthropic hops only; for another hop
  (OpenAI's chat completions refuse each as an undefined content part) each
  is converted where a faithful form exists, else dropped or refused:
  a server tool's call (``server_tool_use``, ``mcp_tool_use``) is dropped -
  the provider ran it, nobody can answer it - and its result
  (``web_search_tool_result``, ``web_fetch_tool_result``, the
  ``*code_execution_tool_result`` blocks, ``mcp_tool_result``) becomes a text
  block of what is readable in it (titles, URLs, output; never the encrypted
  parts); a ``search_result`` becomes its title, source and text; a
  ``document`` becomes OpenAI's ``file`` part (a base64 source) or text (a
  text or content source). The user's own content is never dropped: a
  document by URL or by Anthropic file id, an image by Anthropic file id
  (ChatOpenAI converts inline and URL images itself but drops this one) and a
  ``container_upload``, which no other provider can read, are refused with a
  `ConfigurationError` naming the block.
- The reverse needs no rule here: the frameworks carry OpenAI's user parts
  (``image_url``, ``file``, ``input_audio``) as neutral blocks each client
  converts or refuses itself, and ``ChatAnthropic`` drops ``refusal`` parts.
- With thinking enabled, Anthropic demands that the final assistant turn - a
  prefill, or the turn whose tool calls the trailing tool results answer -
  open with a thinking block. A turn another model wrote (an OpenAI hop made
  the tool call) or a continuation's prefill has none it may send, so that
  one request goes with thinking disabled: Anthropic's documented way out
  ("To avoid this requirement, disable thinking"; one thinking configuration
  per assistant turn, a tool-use loop being one turn). It is logged at DEBUG
  on the ``fallback_core`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._blocks import ANTHROPIC_BLOCKS, for_others

__all__ = [
    "ANTHROPIC_BLOCKS",
    "ANTHROPIC_KEYS",
    "THINKING_BLOCKS",
    "HistoryReader",
    "Turn",
    "thinking_override",
]

logger = logging.getLogger("fallback_core")

THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})
"""Content block types holding a provider's signed reasoning."""

ANTHROPIC_KEYS = frozenset({"cache_control", "citations"})
"""Keys (and LlamaIndex's ``CachePoint`` blocks) only Anthropic's Messages API accepts."""

Turn = tuple[Literal["user", "assistant", "tool"], bool]
"""One message of a request, as the thinking rule reads it: its role, and
whether it opens with a thinking block the hop is sent."""


@dataclass(frozen=True, slots=True)
class HistoryReader:
    """The hop a conversation is prepared for: does it speak Anthropic's API, and which model."""

    anthropic: bool
    model: str | None

    def keeps_thinking(self, written_by: object) -> bool:
        """Whether thinking ``written_by`` wrote may go to this hop: its own, on Anthropic."""
        return self.anthropic and self.model is not None and written_by == self.model

    def keeps_key(self, key: str) -> bool:
        """Whether a provider-only key (``cache_control``) may go to this hop."""
        return self.anthropic or key not in ANTHROPIC_KEYS

    def block(self, block: Mapping[str, Any], written_by: object) -> Mapping[str, Any] | None:
        """A dict content block as this hop may get it; None when it must be dropped.

        Raises `ConfigurationError` for the user's content this hop cannot read.
        """
        if block.get("type") in THINKING_BLOCKS and not self.keeps_thinking(written_by):
            return None
        if not self.anthropic and (converted := for_others(block)) is not block:
            return converted
        if all(self.keeps_key(key) for key in block):
            return block
        return {key: value for key, value in block.items() if self.keeps_key(key)}


def thinking_override(setting: object, turns: Sequence[Turn], hop: str) -> dict[str, str] | None:
    """Thinking disabled, for a request Anthropic would refuse with ``setting``; else None.

    ``setting`` is the hop's ``thinking`` option; only manual extended thinking
    (``{"type": "enabled", ...}``) carries the rule.
    """
    if not isinstance(setting, Mapping) or setting.get("type") != "enabled":
        return None
    if not _final_turn_unthought(turns):
        return None
    logger.debug(
        "%s: thinking disabled for this request: its final assistant turn opens with no "
        "thinking block of this model's (another model wrote it, or it is a continuation)",
        hop,
    )
    return {"type": "disabled"}


def _final_turn_unthought(turns: Sequence[Turn]) -> bool:
    """Whether the final assistant turn - the last message, or the one trailing tool
    results answer - does not open with a thinking block."""
    i = len(turns) - 1
    if i < 0:
        return False
    if turns[i][0] == "assistant":
        return not turns[i][1]
    answers_tools = False
    while i >= 0 and turns[i][0] != "assistant":
        answers_tools = answers_tools or turns[i][0] == "tool"
        i -= 1
    return answers_tools and i >= 0 and not turns[i][1]
