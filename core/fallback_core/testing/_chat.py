"""One chat-completions attempt: answer as the model's script says, broken as the fault says.

`answer_chat` is the whole life of one attempt: it picks the fault (the
`X-Fault` header first, else the model's fault), records the attempt, and
either refuses, breaks the connection, or delivers the scripted reply as JSON
or as a server-sent-event stream with the fault applied on the way.

An attempt's outcome is logged just before the bytes that let the client see
the end (the error body, the reset, the cut, `[DONE]`), so a client that saw
its request end always finds the attempt finished in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from fallback_core.testing._answers import ModelScript, Reply, estimate_prompt_tokens, plan_reply
from fallback_core.testing._faults import Fault, FaultBook, parse_fault
from fallback_core.testing._http import HttpConnection, Request
from fallback_core.testing._log import Attempt, AttemptLog
from fallback_core.testing._openai import (
    DONE_EVENT,
    MALFORMED_EVENT,
    BadRequest,
    ChatRequest,
    Envelope,
    error_body,
    parse_chat_request,
)

FAULT_HEADER = "x-fault"
_SSE_HEADERS = [("cache-control", "no-cache")]


@dataclass(frozen=True, slots=True)
class ChatBackend:
    """What an attempt needs from its server: scripts, faults, the log and the pace."""

    script_for: Callable[[str], ModelScript]
    faults: FaultBook
    log: AttemptLog
    token_delay: float


async def answer_chat(conn: HttpConnection, http: Request, backend: ChatBackend) -> None:
    """Serve one chat-completions request and record it in the attempts log."""
    try:
        request = parse_chat_request(http.body)
        spec = http.headers.get(FAULT_HEADER)
        fault = _header_fault(spec) if spec else backend.faults.draw(request.model)
    except BadRequest as refusal:
        await conn.respond(refusal.status, refusal.body)
        return
    attempt = backend.log.begin(
        request.model, fault.name if fault else None, streamed=request.stream
    )
    try:
        await _attempt(conn, request, backend, fault, attempt)
    except asyncio.CancelledError:
        attempt.finish("server_stopped")
        raise
    except OSError:  # the client went away mid-response
        attempt.finish("client_gone")
        conn.reset()


def _header_fault(spec: str) -> Fault:
    try:
        fault = parse_fault(spec)
    except ValueError as exc:
        raise BadRequest(f"Invalid {FAULT_HEADER} header: {exc}", param=FAULT_HEADER) from None
    if fault.name in ("sequence", "flapping"):
        raise BadRequest(f"{fault.name} cannot be chosen per request", param=FAULT_HEADER)
    return fault


async def _attempt(
    conn: HttpConnection,
    request: ChatRequest,
    backend: ChatBackend,
    fault: Fault | None,
    attempt: Attempt,
) -> None:
    script = backend.script_for(request.model)
    prompt_tokens = estimate_prompt_tokens(request.messages)
    if fault is not None and fault.name == "reject_prefill" and request.last_role != "assistant":
        fault = attempt.fault = None
    refusal = _refusal(fault, request.model) or _window_refusal(script, prompt_tokens)
    if refusal is not None:
        status, headers, body = refusal
        attempt.status = status
        attempt.finish("error_response")
        await conn.respond(status, body, headers)
        return
    if fault is not None and fault.name == "reset_before_headers":
        attempt.finish("reset")
        conn.reset()
        return
    if fault is not None and fault.name == "no_response":
        await conn.wait_for_disconnect(None)
        attempt.finish("client_gone")
        return
    reply = plan_reply(
        script,
        request.messages,
        tools=request.tools,
        tool_choice=request.tool_choice,
        response_format=request.response_format,
        max_tokens=request.max_tokens,
        stop=request.stop,
    )
    attempt.continuation = reply.continuation
    delivery = _Delivery(conn, request, reply, fault, attempt, prompt_tokens)
    if request.stream:
        await delivery.stream(backend.token_delay)
    else:
        await delivery.whole()


_Refusal = tuple[int, list[tuple[str, str]], bytes]


def _refusal(fault: Fault | None, model: str) -> _Refusal | None:
    if fault is None:
        return None
    if fault.name == "rate_limit":
        headers = []
        if fault.retry_after is not None:
            headers.append(("retry-after", f"{fault.retry_after:g}"))
        if fault.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(fault.retry_after_ms)))
        message = f"Rate limit reached for {model} (scripted by the fault server)."
        return 429, headers, error_body(message, type="requests", code="rate_limit_exceeded")
    if fault.name in ("server_error", "flapping"):
        status = fault.status or 500
        kind = "overloaded_error" if status == 529 else "server_error"
        message = f"The server had an error while processing your request ({status}, scripted)."
        return status, [], error_body(message, type=kind, code=None)
    if fault.name == "context_length_exceeded":
        return 400, [], _context_body("This model's maximum context length is 8192 tokens.")
    if fault.name == "content_policy":
        message = "Your request was rejected as a result of our safety system (scripted)."
        body = error_body(message, type="invalid_request_error", code="content_policy_violation")
        return 400, [], body
    if fault.name == "reject_prefill":
        message = (
            "This model does not support assistant message prefill. "
            "The conversation must end with a user message."
        )
        body = error_body(message, type="invalid_request_error", code=None, param="messages")
        return 400, [], body
    return None


def _window_refusal(script: ModelScript, prompt_tokens: int) -> _Refusal | None:
    window = script.context_window
    if window is None or prompt_tokens <= window:
        return None
    message = (
        f"This model's maximum context length is {window} tokens. "
        f"However, your messages resulted in {prompt_tokens} tokens."
    )
    return 400, [], _context_body(message)


def _context_body(message: str) -> bytes:
    return error_body(
        message, type="invalid_request_error", code="context_length_exceeded", param="messages"
    )


class _Delivery:
    """Sends one planned reply, with the fault (if any) applied on the way."""

    def __init__(
        self,
        conn: HttpConnection,
        request: ChatRequest,
        reply: Reply,
        fault: Fault | None,
        attempt: Attempt,
        prompt_tokens: int,
    ) -> None:
        self.conn = conn
        self.request = request
        self.reply = reply
        self.fault_name = fault.name if fault else None
        self.seconds = fault.seconds if fault else None
        self.after = fault.after if fault else None
        self.attempt = attempt
        self.prompt_tokens = prompt_tokens
        self.envelope = Envelope(request.model)

    async def _pause(self) -> bool:
        """Send nothing for the fault's seconds (None: for good); True if the client left."""
        if await self.conn.wait_for_disconnect(self.seconds):
            self.attempt.finish("client_gone")
            return True
        return False

    async def whole(self) -> None:
        """Deliver the reply as one JSON body."""
        body = self.envelope.completion(self.reply, self.prompt_tokens)
        if self.fault_name in ("slow_first_token", "stall_after") and await self._pause():
            return
        if self.fault_name == "malformed_chunk":
            body = b"{not json"
        self.attempt.status = 200
        if self.fault_name == "cut_after":
            await self.conn.start(200, [("content-length", str(len(body)))], "application/json")
            await self.conn.send(body[: len(body) // 2])
            self.attempt.finish("cut")
            await self.conn.close()
            return
        self.attempt.tokens_sent = len(self.reply.pieces)
        self.attempt.finish("completed")
        await self.conn.respond(200, body)

    async def stream(self, token_delay: float) -> None:
        """Deliver the reply as server-sent events, one chunk per token."""
        conn, envelope, with_usage = self.conn, self.envelope, self.request.include_usage
        deltas = envelope.deltas(self.reply)
        self.attempt.status = 200
        await conn.start(200, _SSE_HEADERS, "text/event-stream; charset=utf-8")
        if self.fault_name == "slow_first_token" and await self._pause():
            return
        for index, delta in enumerate(deltas):
            if index == self.after and not await self._strike():
                return
            await conn.send(envelope.chunk(delta, None, with_usage=with_usage))
            self.attempt.tokens_sent += 1
            if token_delay > 0:
                await asyncio.sleep(token_delay)
        if self.after is not None and self.after >= len(deltas) and not await self._strike():
            return
        self.attempt.finish("completed")
        await conn.send(envelope.chunk({}, self.reply.finish_reason, with_usage=with_usage))
        if with_usage:
            await conn.send(envelope.usage_chunk(self.prompt_tokens, len(self.reply.pieces)))
        if self.fault_name == "missing_done":
            await conn.end()
            await conn.close()
        else:
            await conn.send(DONE_EVENT)
            await conn.end()

    async def _strike(self) -> bool:
        """Apply a mid-stream fault at its token; False if the stream ends here."""
        if self.fault_name == "cut_after":
            self.attempt.finish("cut")
            await self.conn.close()
            return False
        if self.fault_name == "stall_after":
            return not await self._pause()
        if self.fault_name == "malformed_chunk":
            await self.conn.send(MALFORMED_EVENT)
        return True
