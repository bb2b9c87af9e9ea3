"""One chat-completions attempt: answer as the model's script says, broken as the fault says.

`answer_chat` is the whole life of one attempt: it picks the fault (the
`X-Fault` header first, else the model's fault), records the attempt, and
either refuses, breaks the connection, or delivers the scripted reply as JSON
or as a server-sent-event stream with the fault applied on the way. A proxying
server hands the request that got that far to its upstream (`_proxy.relay`)
and delivers the upstream's answer the same way.

An attempt's outcome is logged just before the bytes that let the client see
the end (the error body, the reset, the cut, `[DONE]`), so a client that saw
its request end always finds the attempt finished in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fallback_core.testing._answers import ModelScript, Reply, estimate_prompt_tokens, plan_reply
from fallback_core.testing._backups import OBEY, Backup, BackupRefusal, parse_backup
from fallback_core.testing._delivery import Delivery, Event
from fallback_core.testing._faults import Fault, FaultBook, parse_fault
from fallback_core.testing._http import HttpConnection, Request
from fallback_core.testing._log import Attempt, AttemptLog
from fallback_core.testing._openai import (
    DONE_EVENT,
    BadRequest,
    ChatRequest,
    Envelope,
    error_body,
    parse_chat_request,
)
from fallback_core.testing._proxy import Upstream, relay

FAULT_HEADER = "x-fault"
BACKUP_HEADER = "x-backup"


@dataclass(frozen=True, slots=True)
class ChatBackend:
    """What an attempt needs from its server: scripts, faults, the log, the pace, the upstream.

    With an `upstream` the server is a proxy: a request that gets past its
    fault's refusals is answered by the upstream server instead of a script.
    """

    script_for: Callable[[str], ModelScript]
    faults: FaultBook
    log: AttemptLog
    token_delay: float
    upstream: Upstream | None = None
    backup_for: Callable[[str], Backup] = lambda model: OBEY


async def answer_chat(conn: HttpConnection, http: Request, backend: ChatBackend) -> Attempt | None:
    """Serve one chat-completions request; return its attempt (None: refused unread)."""
    try:
        request = parse_chat_request(http.body)
        spec = http.headers.get(FAULT_HEADER)
        fault = _header_fault(spec) if spec else backend.faults.draw(request.model)
        backup = _header_backup(http.headers.get(BACKUP_HEADER)) or backend.backup_for(
            request.model
        )
    except BadRequest as refusal:
        await conn.respond(refusal.status, refusal.body)
        return None
    attempt = backend.log.begin(
        request.model, fault.name if fault else None, streamed=request.stream
    )
    try:
        await _attempt(conn, http, request, backend, fault, backup, attempt)
    except asyncio.CancelledError:
        attempt.finish("server_stopped")
        raise
    except OSError:  # the client went away mid-response
        attempt.finish("client_gone")
        conn.reset()
    return attempt


def _header_backup(spec: str | None) -> Backup | None:
    if not spec:
        return None
    try:
        return parse_backup(spec)
    except ValueError as exc:
        raise BadRequest(f"Invalid {BACKUP_HEADER} header: {exc}", param=BACKUP_HEADER) from None


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
    http: Request,
    request: ChatRequest,
    backend: ChatBackend,
    fault: Fault | None,
    backup: Backup,
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
    delivery = Delivery(conn, fault, attempt, backend.token_delay)
    if backend.upstream is not None:
        await relay(backend.upstream, http.body, request, http.headers, delivery)
        return
    try:
        reply = plan_reply(
            script,
            request.messages,
            tools=request.tools,
            tool_choice=request.tool_choice,
            response_format=request.response_format,
            max_tokens=request.max_tokens,
            stop=request.stop,
            backup=backup,
            flags=request.flags,
        )
    except BackupRefusal as refused:
        attempt.status, attempt.backup = 400, str(backup)
        attempt.finish("error_response")
        await conn.respond(400, error_body(str(refused), type="BadRequestError", code=None))
        return
    attempt.continuation, attempt.given = reply.continuation, reply.given
    attempt.backup = str(backup) if reply.continuation else None
    envelope = Envelope(request.model)
    if request.stream:
        await delivery.stream(_events(envelope, reply, prompt_tokens, request.include_usage))
    else:
        await delivery.whole(envelope.completion(reply, prompt_tokens), len(reply.pieces))


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


async def _events(
    envelope: Envelope, reply: Reply, prompt_tokens: int, with_usage: bool
) -> AsyncIterator[Event]:
    """The scripted reply as server-sent events: one chunk per token, then the closing ones."""
    for delta in envelope.deltas(reply):
        chunk = envelope.chunk(delta, None, with_usage=with_usage)
        yield Event("token", chunk, delta.get("content") or "")
    yield Event("closing", envelope.chunk({}, reply.finish_reason, with_usage=with_usage))
    if with_usage:
        yield Event("closing", envelope.usage_chunk(prompt_tokens, len(reply.pieces)))
    yield Event("done", DONE_EVENT)
