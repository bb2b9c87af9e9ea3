"""How one provider API speaks: what a `Wire` is, and OpenAI's chat completions as one.

An attempt (`_chat.answer`) is the same story whatever the API: pick the
fault, refuse or break or deliver. What differs is the wire format - how a
request is read, what an error body, a whole answer and a stream look like,
what a garbled event and a mid-stream error event are - and each API's
`Wire` supplies exactly that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from fallback_core.testing._answers import Reply
from fallback_core.testing._delivery import Event
from fallback_core.testing._faults import Fault
from fallback_core.testing._openai import (
    DONE_EVENT,
    MALFORMED_EVENT,
    BadRequest,
    ChatRequest,
    Envelope,
    error_body,
    parse_chat_request,
)

Headers = Sequence[tuple[str, str]]
Refusal = tuple[int, list[tuple[str, str]], bytes]


class Wire(Protocol):
    """One API's wire format, as the fault server writes it."""

    malformed_event: bytes
    """A server-sent event the API's client cannot parse."""

    def parse(self, body: bytes) -> ChatRequest:
        """Read a request body; raise `BadRequest` where the API refuses it."""

    def refused(self, bad: BadRequest) -> Refusal:
        """The response to a request refused before it was read."""

    def refusal(self, fault: Fault, request: ChatRequest) -> Refusal | None:
        """The error response a refusing fault sends, or None if the fault does not refuse."""

    def too_long(self, window: int, prompt_tokens: int) -> Refusal:
        """The response to a prompt longer than the model's context window."""

    def error_event(self, status: int) -> bytes:
        """The event a stream under trouble ends with (429: rate limit, 529: overloaded)."""

    def headers(self) -> Headers:
        """Headers every response of this API carries (e.g. a request id)."""

    def whole(self, reply: Reply, request: ChatRequest, prompt_tokens: int) -> bytes:
        """The non-streamed answer body."""

    def events(
        self, reply: Reply, request: ChatRequest, prompt_tokens: int
    ) -> AsyncIterator[Event]:
        """The streamed answer, event by event."""


class OpenAIWire:
    """OpenAI's chat completions: `{"error": ...}` bodies, `chat.completion(.chunk)` objects."""

    malformed_event = MALFORMED_EVENT

    def parse(self, body: bytes) -> ChatRequest:
        return parse_chat_request(body)

    def refused(self, bad: BadRequest) -> Refusal:
        return bad.status, [], bad.body

    def refusal(self, fault: Fault, request: ChatRequest) -> Refusal | None:
        if fault.name == "rate_limit":
            message = f"Rate limit reached for {request.model} (scripted by the fault server)."
            body = error_body(message, type="requests", code="rate_limit_exceeded")
            return 429, retry_headers(fault), body
        if fault.name in ("server_error", "flapping"):
            status = fault.status or 500
            kind = "overloaded_error" if status == 529 else "server_error"
            message = f"The server had an error while processing your request ({status}, scripted)."
            return status, [], error_body(message, type=kind, code=None)
        if fault.name == "context_length_exceeded":
            return 400, [], _context_body("This model's maximum context length is 8192 tokens.")
        if fault.name == "content_policy":
            message = "Your request was rejected as a result of our safety system (scripted)."
            body = error_body(
                message, type="invalid_request_error", code="content_policy_violation"
            )
            return 400, [], body
        if fault.name == "reject_prefill":
            message = (
                "This model does not support assistant message prefill. "
                "The conversation must end with a user message."
            )
            body = error_body(message, type="invalid_request_error", code=None, param="messages")
            return 400, [], body
        return None

    def too_long(self, window: int, prompt_tokens: int) -> Refusal:
        message = (
            f"This model's maximum context length is {window} tokens. "
            f"However, your messages resulted in {prompt_tokens} tokens."
        )
        return 400, [], _context_body(message)

    def error_event(self, status: int) -> bytes:
        kind = "rate_limit_exceeded" if status == 429 else "server_error"
        message = f"The server had an error while processing your request ({status}, scripted)."
        error = error_body(message, type=kind, code=None)
        return b"data: " + error + b"\n\n"

    def headers(self) -> Headers:
        return ()

    def whole(self, reply: Reply, request: ChatRequest, prompt_tokens: int) -> bytes:
        return Envelope(request.model).completion(reply, prompt_tokens)

    async def events(
        self, reply: Reply, request: ChatRequest, prompt_tokens: int
    ) -> AsyncIterator[Event]:
        """One chunk per token, then the finish chunk, the usage chunk if asked, `[DONE]`."""
        envelope, with_usage = Envelope(request.model), request.include_usage
        for delta in envelope.deltas(reply):
            chunk = envelope.chunk(delta, None, with_usage=with_usage)
            yield Event("token", chunk, delta.get("content") or "")
        yield Event("closing", envelope.chunk({}, reply.finish_reason, with_usage=with_usage))
        if with_usage:
            yield Event("closing", envelope.usage_chunk(prompt_tokens, len(reply.pieces)))
        yield Event("done", DONE_EVENT)


def retry_headers(fault: Fault) -> list[tuple[str, str]]:
    """A rate limit's `retry-after` (seconds) and `retry-after-ms` headers, as the fault sets."""
    headers = []
    if fault.retry_after is not None:
        headers.append(("retry-after", f"{fault.retry_after:g}"))
    if fault.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(fault.retry_after_ms)))
    return headers


def _context_body(message: str) -> bytes:
    return error_body(
        message, type="invalid_request_error", code="context_length_exceeded", param="messages"
    )
