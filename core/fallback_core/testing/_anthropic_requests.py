"""Reading a Messages API request (`POST /v1/messages`) as api.anthropic.com validates it.

The request is read into the same `ChatRequest` the scripted models answer
(content blocks become text, `tool_result` blocks tool messages, Anthropic
tools and `tool_choice` the OpenAI shapes `plan_reply` reads), after the
API's own checks: `max_tokens` is required, roles are `user` / `assistant`,
a final assistant message (a prefill, which the model continues) must not
end with whitespace, and the content blocks pass `check_anthropic_blocks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fallback_core.testing._answers import message_text
from fallback_core.testing._openai import BadRequest, ChatRequest, json_object
from fallback_core.testing._thinking import check_anthropic_blocks, thinking_budget

__all__ = ["parse_messages_request"]


def parse_messages_request(body: bytes) -> ChatRequest:
    """Read a Messages API request as the API validates it; raise BadRequest where it refuses."""
    data = json_object(body, "There was an issue with your request body: invalid JSON")
    model, messages, max_tokens = data.get("model"), data.get("messages"), data.get("max_tokens")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise BadRequest("max_tokens: Field required")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("messages: Field required")
    for i, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            role = message.get("role")
            raise BadRequest(f"messages.{i}.role: Input should be 'user' or 'assistant' ({role})")
    if (
        messages
        and messages[-1]["role"] == "assistant"
        and _text_of(messages[-1]) != (_text_of(messages[-1]).rstrip())
    ):
        raise BadRequest("messages: final assistant content cannot end with trailing whitespace")
    budget = thinking_budget(data, max_tokens)
    check_anthropic_blocks(model, messages, thinking=budget is not None)
    stops = tuple(s for s in data.get("stop_sequences") or () if isinstance(s, str) and s)
    tools, tool_choice = _tools(data)
    chat = [*_system(data.get("system")), *(m for message in messages for m in _chat(message))]
    return ChatRequest(
        model=model,
        messages=tuple(chat),
        stream=data.get("stream") is True,
        include_usage=False,
        max_tokens=max_tokens,
        stop=stops,
        tools=tools,
        tool_choice=tool_choice,
        response_format=None,
        thinking=budget,
    )


def _text_of(message: Mapping[str, Any]) -> str:
    """The text of a message's content: the string, or its text blocks."""
    content = message.get("content")
    if isinstance(content, list):
        texts = [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
        return "".join(b.get("text") or "" for b in texts)
    return content if isinstance(content, str) else ""


def _system(system: object) -> list[dict[str, Any]]:
    if isinstance(system, list):
        system = "".join(b.get("text", "") for b in system if isinstance(b, dict))
    return [{"role": "system", "content": system}] if isinstance(system, str) and system else []


def _chat(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One Messages API message as chat messages: tool results become tool messages."""
    role, content = message["role"], message.get("content")
    blocks = content if isinstance(content, list) else []
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    chat: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": r.get("tool_use_id"), "content": _result_text(r)}
        for r in results
    ]
    text = _text_of(message)
    if text or not results:
        chat.append({"role": role, "content": text})
    return chat


def _result_text(result: Mapping[str, Any]) -> str:
    content = result.get("content")
    return message_text({"content": content}) if isinstance(content, list) else str(content or "")


def _tools(data: Mapping[str, Any]) -> tuple[tuple[Mapping[str, Any], ...], object]:
    """The custom tools in OpenAI's shape, and `tool_choice` as OpenAI spells it."""
    tools = data.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise BadRequest("tools: Input should be a valid list")
    names = [
        tool["name"]
        for tool in tools
        if isinstance(tool.get("name"), str) and tool.get("type", "custom") == "custom"
    ]
    schemas = {tool.get("name"): tool.get("input_schema") or {} for tool in tools}
    functions = tuple(
        {"type": "function", "function": {"name": name, "parameters": schemas[name]}}
        for name in names
    )
    choice = data.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        name = choice.get("name") if isinstance(choice, dict) else None
        if name not in names:
            raise BadRequest(f"tool_choice: tool {name!r} was not found in tools")
        return functions, {"type": "function", "function": {"name": name}}
    return functions, {"any": "required", "none": "none"}.get(kind or "")
