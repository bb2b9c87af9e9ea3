"""One chat attempt: answer as the model's script says, broken as the fault says.

`answer_chat` is the whole life of one attempt, in the wire format of the API
asked (OpenAI's chat completions, Anthropic's messages; see `_wire`): it picks the fault (the
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
from collections.abc import Callable
from dataclasses import dataclass

from fallback_core.testing._answers import ModelScript, estimate_prompt_tokens, plan_reply
from fallback_core.testing._backups import OBEY, Backup, BackupRefusal, parse_backup
from fallback_core.testing._delivery import Delivery
from fallback_core.testing._faults import Fault, FaultBook, parse_fault
from fallback_core.testing._http import HttpConnection, Request
from fallback_core.testing._log import Attempt, AttemptLog
from fallback_core.testing._openai import BadRequest, ChatRequest
from fallback_core.testing._proxy import Upstream, relay
from fallback_core.testing._wire import OpenAIWire, Refusal, Wire

FAULT_HEADER = "x-fault"
BACKUP_HEADER = "x-backup"
OPENAI: Wire = OpenAIWire()


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


async def answer_chat(
    conn: HttpConnection, http: Request, backend: ChatBackend, wire: Wire = OPENAI
) -> Attempt | None:
    """Serve one chat request in `wire`'s format; return its attempt (None: refused unread)."""
    try:
        request = wire.parse(http.body)
        spec = http.headers.get(FAULT_HEADER)
        fault = _header_fault(spec) if spec else backend.faults.draw(request.model)
        backup = _header_backup(http.headers.get(BACKUP_HEADER)) or backend.backup_for(
            request.model
        )
    except BadRequest as bad:
        status, headers, body = wire.refused(bad)
        await conn.respond(status, body, [*wire.headers(), *headers])
        return None
    attempt = backend.log.begin(
        request.model, fault.name if fault else None, streamed=request.stream
    )
    try:
        await _attempt(conn, http, request, backend, fault, backup, attempt, wire)
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
    wire: Wire,
) -> None:
    script = backend.script_for(request.model)
    prompt_tokens = estimate_prompt_tokens(request.messages)
    if fault is not None and fault.name == "reject_prefill" and request.last_role != "assistant":
        fault = attempt.fault = None
    refusal = _refusal(wire, fault, request)
    window = script.context_window
    if refusal is None and window is not None and prompt_tokens > window:
        refusal = wire.too_long(window, prompt_tokens)
    if refusal is not None:
        status, headers, body = refusal
        attempt.status = status
        attempt.finish("error_response")
        await conn.respond(status, body, [*wire.headers(), *headers])
        return
    if fault is not None and fault.name == "reset_before_headers":
        attempt.finish("reset")
        conn.reset()
        return
    if fault is not None and fault.name == "no_response":
        await conn.wait_for_disconnect(None)
        attempt.finish("client_gone")
        return
    error_event = wire.error_event(fault.status or 529) if fault and fault.status else b""
    delivery = Delivery(
        conn,
        fault,
        attempt,
        backend.token_delay,
        malformed=wire.malformed_event,
        error_event=error_event,
    )
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
        status, headers, body = wire.refused(BadRequest(str(refused), type="BadRequestError"))
        await conn.respond(status, body, [*wire.headers(), *headers])
        return
    attempt.continuation, attempt.given = reply.continuation, reply.given
    attempt.backup = str(backup) if reply.continuation else None
    if request.stream:
        await delivery.stream(wire.events(reply, request, prompt_tokens), wire.headers())
    else:
        body = wire.whole(reply, request, prompt_tokens)
        await delivery.whole(body, len(reply.pieces), wire.headers())


def _refusal(wire: Wire, fault: Fault | None, request: ChatRequest) -> Refusal | None:
    """The error response `fault` answers with before anything is streamed, if it refuses."""
    if fault is None:
        return None
    if fault.name == "error_event" and not request.stream:  # no stream to break: a plain error
        status = fault.status or 529
        if status == 429:
            return wire.refusal(Fault.rate_limit(), request)
        return wire.refusal(Fault.server_error(status), request)
    return wire.refusal(fault, request)
