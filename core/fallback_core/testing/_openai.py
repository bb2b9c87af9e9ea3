"""The OpenAI chat-completions wire format: reading requests, writing bodies and chunks.

Bodies mirror what api.openai.com sends, so the official clients parse them
unchanged: `chat.completion` objects, `chat.completion.chunk` server-sent
events (usage as a final chunk with empty `choices`), and `{"error": {...}}`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fallback_core.testing._answers import Reply
from fallback_core.testing._reading import named_choice, tool_name

_FLAGS = ("continue_final_message", "add_generation_prompt")
DONE_EVENT = b"data: [DONE]\n\n"
MALFORMED_EVENT = b"data: {not json\n\n"


class BadRequest(Exception):
    """A refused request; ``body`` is its OpenAI error body (other wires read the fields)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.body = error_body(message, type=type, code=code, param=param)


def error_body(message: str, *, type: str, code: str | None, param: str | None = None) -> bytes:
    """An OpenAI error body: `{"error": {"message", "type", "param", "code"}}`."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The parts of a chat-completions request that the fault server acts on."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    stop: tuple[str, ...]
    tools: tuple[Mapping[str, Any], ...]
    tool_choice: object
    response_format: Mapping[str, Any] | None
    flags: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    """``continue_final_message`` / ``add_generation_prompt`` (vLLM's options), where set."""
    thinking: int | None = None
    """Anthropic's extended-thinking budget, when the request turns thinking on."""

    @property
    def last_role(self) -> str | None:
        """The role of the final message, if any."""
        role = self.messages[-1].get("role") if self.messages else None
        return role if isinstance(role, str) else None


def json_object(body: bytes, unparsable: str) -> dict[str, Any]:
    """The request body as a JSON object; BadRequest saying ``unparsable`` if it is not JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest(unparsable) from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def parse_chat_request(body: bytes) -> ChatRequest:
    """Read a chat-completions request body; raise BadRequest when it is not one."""
    data = json_object(body, "We could not parse the JSON body of your request.")
    model, messages = data.get("model"), data.get("messages")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", param="model")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("'messages' must be a list of message objects", param="messages")
    from fallback_core.testing._thinking import check_openai_parts  # it raises BadRequest

    check_openai_parts(messages)
    stop = data.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str))
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
    options = data.get("stream_options")
    tools, tool_choice, response_format = _tools_and_format(data)
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        stream=data.get("stream") is True,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stop=stops,
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
        flags=MappingProxyType({k: v for k in _FLAGS if isinstance(v := data.get(k), bool)}),
    )


def _tools_and_format(
    data: Mapping[str, Any],
) -> tuple[tuple[Mapping[str, Any], ...], object, Mapping[str, Any] | None]:
    """The request's tools, tool choice and response format, refused where OpenAI refuses them."""
    tools = data.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise BadRequest("'tools' must be a list of tool objects", param="tools")
    tool_choice = data.get("tool_choice")
    wanted = named_choice(tool_choice)
    if wanted is not None and wanted not in {tool_name(tool) for tool in tools}:
        message = f"Invalid value for 'tool_choice': no function named {wanted!r} in 'tools'."
        raise BadRequest(message, param="tool_choice")
    response_format = data.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise BadRequest("'response_format' must be an object", param="response_format")
    return tuple(tools), tool_choice, response_format


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """An OpenAI `usage` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class Envelope:
    """The id, timestamp and model shared by every body and chunk of one response."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model

    def completion(self, reply: Reply, prompt_tokens: int) -> bytes:
        """A whole `chat.completion` body for `reply`."""
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if reply.reasoning:
            message["reasoning_content"] = "".join(reply.reasoning)
        if reply.tool_call is None:
            message["content"] = reply.text
        else:
            call = reply.tool_call
            function = {"name": call.name, "arguments": call.arguments}
            message["tool_calls"] = [{"id": call.id, "type": "function", "function": function}]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": reply.finish_reason,
        }
        body = {
            **self._head("chat.completion"),
            "choices": [choice],
            "usage": usage(prompt_tokens, len(reply.pieces)),
        }
        return json.dumps(body).encode()

    def deltas(self, reply: Reply) -> list[dict[str, Any]]:
        """The `delta` of each content chunk of a streamed `reply`, in order.

        A reasoning reply opens as DeepSeek's does: a chunk naming the role with
        no content and empty reasoning, then a `reasoning_content` chunk a token.
        """
        opening = {"role": "assistant", "content": None, "reasoning_content": ""}
        thoughts: list[dict[str, Any]] = [
            *([opening] if reply.reasoning else []),
            *({"reasoning_content": piece} for piece in reply.reasoning),
        ]
        return thoughts + self._answer_deltas(reply, opened=bool(thoughts))

    def _answer_deltas(self, reply: Reply, *, opened: bool) -> list[dict[str, Any]]:
        """The content (or tool-call) deltas; the first names the role unless reasoning did."""
        role: dict[str, Any] = {} if opened else {"role": "assistant"}
        call = reply.tool_call
        if call is None:
            texts = reply.pieces or ("",)
            first: dict[str, Any] = {**role, "content": texts[0]}
            return [first, *({"content": text} for text in texts[1:])]
        opening = {
            "index": 0,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        head = {**role, "content": None, "tool_calls": [opening]}
        return [
            head,
            *(
                {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                for piece in reply.pieces
            ),
        ]

    def chunk(
        self, delta: Mapping[str, Any], finish_reason: str | None, *, with_usage: bool
    ) -> bytes:
        """One `chat.completion.chunk` event (`usage: null` when usage comes at the end)."""
        choice = {"index": 0, "delta": dict(delta), "logprobs": None}
        choice["finish_reason"] = finish_reason
        body = {**self._head("chat.completion.chunk"), "choices": [choice]}
        if with_usage:
            body["usage"] = None
        return _event(body)

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The final usage event of a stream: empty `choices` and the token counts."""
        body = {
            **self._head("chat.completion.chunk"),
            "choices": [],
            "usage": usage(prompt_tokens, completion_tokens),
        }
        return _event(body)

    def _head(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
        }


def _event(body: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(body).encode() + b"\n\n"
