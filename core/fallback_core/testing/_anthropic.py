"""The Anthropic Messages API wire format (`POST /v1/messages`), as api.anthropic.com writes it.

Requests are read by `_anthropic_requests` (the API's validation).

Answers: a `message` object, or the event stream `message_start`,
`content_block_start`, `ping`, `content_block_delta` (`text_delta` /
`input_json_delta`) per token, `content_block_stop`, `message_delta` (stop
reason and output tokens), `message_stop`. Errors: `{"type": "error",
"error": {"type", "message"}, "request_id"}` with a `request-id` header; the
mid-stream `event: error` the API sends under load after a 200.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fallback_core.testing._answers import Reply
from fallback_core.testing._anthropic_requests import parse_messages_request
from fallback_core.testing._delivery import Event
from fallback_core.testing._faults import Fault
from fallback_core.testing._openai import BadRequest, ChatRequest
from fallback_core.testing._thinking import signature
from fallback_core.testing._wire import Headers, Refusal, retry_headers

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_NO_PREFILL = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)


class AnthropicWire:
    """Anthropic's Messages API; one instance per response, so its request id is shared."""

    malformed_event = b"event: content_block_delta\ndata: {not json\n\n"

    def __init__(self) -> None:
        self.request_id = f"req_{uuid.uuid4().hex[:24]}"

    def parse(self, body: bytes) -> ChatRequest:
        return parse_messages_request(body)

    def refused(self, bad: BadRequest) -> Refusal:
        return bad.status, [], self.error(_error_type(bad.status, bad.type), bad.message)

    def error(self, kind: str, message: str) -> bytes:
        """An error body: the envelope, the error, the request id."""
        error = {"type": kind, "message": message}
        return json.dumps({"type": "error", "error": error, "request_id": self.request_id}).encode()

    def refusal(self, fault: Fault, request: ChatRequest) -> Refusal | None:
        if fault.name == "rate_limit":
            message = (
                "This request would exceed the rate limit for your organization of 50 requests "
                f"per minute ({request.model}, scripted by the fault server)."
            )
            return 429, retry_headers(fault), self.error("rate_limit_error", message)
        if fault.name in ("server_error", "flapping"):
            status = fault.status or 500
            if status == 529:
                return status, [], self.error("overloaded_error", "Overloaded")
            return status, [], self.error("api_error", "Internal server error")
        if fault.name == "context_length_exceeded":
            return self.too_long(200000, 210000)
        if fault.name == "content_policy":
            message = "Output blocked by content filtering policy"
            return 400, [], self.error("invalid_request_error", message)
        if fault.name == "reject_prefill":
            return 400, [], self.error("invalid_request_error", _NO_PREFILL)
        return None

    def too_long(self, window: int, prompt_tokens: int) -> Refusal:
        message = f"prompt is too long: {prompt_tokens} tokens > {window} maximum"
        return 400, [], self.error("invalid_request_error", message)

    def error_event(self, status: int) -> bytes:
        if status == 429:
            kind, message = "rate_limit_error", "Rate limited"
        elif status == 529:
            kind, message = "overloaded_error", "Overloaded"
        else:
            kind, message = "api_error", "Internal server error"
        data = {"type": "error", "error": {"type": kind, "message": message}}
        return _sse("error", data)

    def headers(self) -> Headers:
        return (("request-id", self.request_id),)

    def whole(self, reply: Reply, request: ChatRequest, prompt_tokens: int) -> bytes:
        call = reply.tool_call
        if call is None:
            content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}]
        else:
            content = [_tool_use(reply, json.loads(call.arguments))]
        if _thinks(reply, request):
            thought = "".join(reply.reasoning)
            block = {
                "type": "thinking",
                "thinking": thought,
                "signature": signature(request.model, thought),
            }
            content.insert(0, block)
        body = {
            **_message(request, reply),
            "content": content,
            "usage": _usage(prompt_tokens, len(reply.pieces)),
        }
        return json.dumps(body).encode()

    async def events(
        self, reply: Reply, request: ChatRequest, prompt_tokens: int
    ) -> AsyncIterator[Event]:
        """The API's event sequence for `reply`: one `content_block_delta` per token."""
        start = {**_message(request, None), "content": [], "usage": _usage(prompt_tokens, 1)}
        yield Event("other", _sse("message_start", {"type": "message_start", "message": start}))
        index = 0
        if _thinks(reply, request):
            async for event in _thinking_events(reply.reasoning, request.model):
                yield event
            index = 1
        call = reply.tool_call
        block = {"type": "text", "text": ""} if call is None else _tool_use(reply, {})
        opening = {"type": "content_block_start", "index": index, "content_block": block}
        yield Event("other", _sse("content_block_start", opening))
        if index == 0:
            yield Event("other", _sse("ping", {"type": "ping"}))
        for piece in reply.pieces:
            if call is None:
                delta = {"type": "text_delta", "text": piece}
            else:
                delta = {"type": "input_json_delta", "partial_json": piece}
            data = {"type": "content_block_delta", "index": index, "delta": delta}
            yield Event("token", _sse("content_block_delta", data), piece if call is None else "")
        stop = {"type": "content_block_stop", "index": index}
        yield Event("other", _sse("content_block_stop", stop))
        reason, sequence = _stop(reply)
        closing = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": _usage(prompt_tokens, len(reply.pieces), cumulative=True),
        }
        yield Event("closing", _sse("message_delta", closing))
        yield Event("done", _sse("message_stop", {"type": "message_stop"}))


def _thinks(reply: Reply, request: ChatRequest) -> bool:
    """Whether the reply opens with a thinking block: thinking is on and the model reasons."""
    return request.thinking is not None and bool(reply.reasoning)


async def _thinking_events(pieces: tuple[str, ...], model: str) -> AsyncIterator[Event]:
    """Block 0, a `thinking` block: one `thinking_delta` per token, then its `signature_delta`."""
    block = {"type": "thinking", "thinking": "", "signature": ""}
    opening = {"type": "content_block_start", "index": 0, "content_block": block}
    yield Event("other", _sse("content_block_start", opening))
    yield Event("other", _sse("ping", {"type": "ping"}))
    for piece in pieces:
        delta = {"type": "thinking_delta", "thinking": piece}
        yield Event(
            "token",
            _sse(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            ),
        )
    sealed = {"type": "signature_delta", "signature": signature(model, "".join(pieces))}
    data = {"type": "content_block_delta", "index": 0, "delta": sealed}
    yield Event("other", _sse("content_block_delta", data))
    yield Event("other", _sse("content_block_stop", {"type": "content_block_stop", "index": 0}))


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _message(request: ChatRequest, reply: Reply | None) -> dict[str, Any]:
    """A `message` object's head; a streamed one opens with no stop reason yet."""
    reason, sequence = (None, None) if reply is None else _stop(reply)
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "stop_reason": reason,
        "stop_sequence": sequence,
    }


def _stop(reply: Reply) -> tuple[str, str | None]:
    """The stop reason and, when a stop sequence ended the answer, which one."""
    if reply.stop_sequence is not None:
        return "stop_sequence", reply.stop_sequence
    return _STOP_REASONS.get(reply.finish_reason, "end_turn"), None


def _usage(input_tokens: int, output_tokens: int, *, cumulative: bool = False) -> dict[str, Any]:
    """A `usage` object; the `message_delta` one holds the cumulative counts, no service tier."""
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }
    return usage if cumulative else {**usage, "service_tier": "standard"}


def _tool_use(reply: Reply, arguments: Mapping[str, Any]) -> dict[str, Any]:
    call = reply.tool_call
    assert call is not None
    tool_id = "toolu_" + call.id.removeprefix("call_")
    return {"type": "tool_use", "id": tool_id, "name": call.name, "input": dict(arguments)}


def _error_type(status: int, kind: str) -> str:
    if status == 404:
        return "not_found_error"
    return kind if kind.endswith("_error") else "invalid_request_error"
