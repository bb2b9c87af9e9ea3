"""Tool calling across hops that each format tools their own way.

``chat_with_tools`` and its streaming and async twins (inherited from
``FunctionCallingLLM``) go through ``_prepare_chat_with_tools``, which only
packs the LlamaIndex tools into the request; each hop then runs its own
``stream_chat_with_tools``. Tool calls come back as provider-neutral
``ToolCallBlock``s, so they are read the same way whichever hop answered; a
response built by a hop's own integration in an older, provider-specific form
is read by the hops' own ``get_tool_calls_from_response``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole, ToolCallBlock
from llama_index.core.llms import LLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from ._target import ToolSpec

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["TOOLS_KEY", "keep_first_tool_call", "pack_tools", "tool_selections"]

TOOLS_KEY = "fallback_tools"


def pack_tools(
    tools: Sequence[BaseTool],
    user_msg: str | ChatMessage | None,
    chat_history: Sequence[ChatMessage] | None,
    *,
    verbose: bool,
    allow_parallel_tool_calls: bool,
    tool_required: bool,
    **kwargs: Any,
) -> dict[str, Any]:
    """The arguments for ``chat`` / ``stream_chat`` that make it a chat with tools."""
    messages = list(chat_history or [])
    if isinstance(user_msg, str):
        user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
    if user_msg is not None:
        messages.append(user_msg)
    spec = ToolSpec(tuple(tools), verbose, allow_parallel_tool_calls, tool_required)
    return {"messages": messages, TOOLS_KEY: spec, **kwargs}


def tool_selections(
    response: ChatResponse, hops: Sequence[LLM], *, error_on_no_tool_call: bool
) -> list[ToolSelection]:
    """The tool calls in ``response``, whichever hop produced it."""
    blocks = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    selections = [_selection(b) for b in blocks]
    if not selections and response.message.additional_kwargs.get("tool_calls"):
        selections = _read_by_hops(response, hops)
    if not selections and error_on_no_tool_call:
        raise ValueError("Expected at least one tool call, but the response has none.")
    return selections


def keep_first_tool_call(response: ChatResponse) -> ChatResponse:
    """Drop every tool call after the first (parallel calls were not allowed)."""
    calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    if len(calls) > 1:
        extra = {id(b) for b in calls[1:]}
        response.message.blocks = [b for b in response.message.blocks if id(b) not in extra]
    return response


def _selection(block: ToolCallBlock) -> ToolSelection:
    arguments: Any = block.tool_kwargs
    if isinstance(arguments, str):
        try:
            arguments = parse_partial_json(arguments) if arguments.strip() else {}
        except (ValueError, TypeError):
            arguments = {}
    return ToolSelection(
        tool_id=block.tool_call_id or "", tool_name=block.tool_name, tool_kwargs=arguments
    )


def _read_by_hops(response: ChatResponse, hops: Sequence[LLM]) -> list[ToolSelection]:
    for llm in hops:
        if not isinstance(llm, FunctionCallingLLM):
            continue
        try:
            selections = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
        except Exception:  # another provider's format: not this hop's to read
            continue
        if selections:
            return selections
    return []
