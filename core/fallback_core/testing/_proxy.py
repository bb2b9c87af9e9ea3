"""Proxy mode: a chat request answered by a real upstream server, broken on the way by faults.

`relay` forwards one chat-completions request (the model name mapped) and
hands the answer to the attempt's `Delivery`, which applies the fault to it
just as it does to a scripted reply: a streamed answer is relayed event by
event as it arrives, each event tagged as a token, a closing event or
`[DONE]`, so `cut_after=5` cuts after the fifth relayed content chunk. Faults
that refuse or break a request before any answer (429, 5xx, reset, no
response, prefill refusal, ...) strike before anything is forwarded, so the
upstream never sees those requests.

The answer's `model` fields are set back to the name the client asked for,
so the upstream's name (for llama.cpp, a file path) never reaches the client.
An upstream error status is passed on as it is; an upstream that cannot be
reached is a 502; one whose stream breaks off is closed mid-stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fallback_core.testing._delivery import Delivery, Event
from fallback_core.testing._openai import DONE_EVENT, ChatRequest, error_body
from fallback_core.testing._upstream import Upstream, UpstreamError, UpstreamResponse

__all__ = ["SseReader", "Upstream", "UpstreamError", "relay", "relayed_event"]

_CHAT_PATH = "/chat/completions"
_FORWARDED_HEADERS = ("authorization", "accept", "openai-organization", "openai-project")
_PASSED_BACK_HEADERS = ("retry-after", "retry-after-ms")
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE_END = re.compile(rb"\r\n|\n|\r")


async def relay(
    upstream: Upstream,
    body: bytes,
    request: ChatRequest,
    headers: dict[str, str],
    delivery: Delivery,
) -> None:
    """Answer `request` (whose raw JSON is `body`) from `upstream`, through `delivery`."""
    conn, attempt = delivery.conn, delivery.attempt
    attempt.continuation = request.last_role == "assistant"  # a prefill; see FaultServer
    forwarded = [(name, headers[name]) for name in _FORWARDED_HEADERS if name in headers]
    try:
        response = await upstream.post(
            _CHAT_PATH, _with_model(body, upstream.model_for(request.model)), forwarded
        )
    except UpstreamError as exc:
        await _bad_gateway(delivery, exc)
        return
    try:
        if response.status != 200 or not request.stream:
            try:
                answer = await response.read()
            except UpstreamError as exc:
                await _bad_gateway(delivery, exc)
                return
            if response.status != 200:
                attempt.status = response.status
                attempt.finish("error_response")
                passed = [(n, v) for n, v in response.headers.items() if n in _PASSED_BACK_HEADERS]
                await conn.respond(response.status, answer, passed)
                return
            await delivery.whole(*_relayed_body(answer, request.model))
            return
        try:
            await delivery.stream(_relayed_events(response, request.model))
        except UpstreamError:
            attempt.finish("upstream_error")
            await conn.close()
    finally:
        response.close()


async def _bad_gateway(delivery: Delivery, exc: UpstreamError) -> None:
    delivery.attempt.status = 502
    delivery.attempt.finish("error_response")
    message = f"The fault server's upstream failed: {exc}"
    await delivery.conn.respond(502, error_body(message, type="server_error", code=None))


def _with_model(body: bytes, model: str) -> bytes:
    data = json.loads(body)  # parsed once already: a JSON object with a model
    if data.get("model") == model:
        return body
    return json.dumps({**data, "model": model}).encode()


def _relayed_body(body: bytes, model: str) -> tuple[bytes, int]:
    """A whole upstream completion with the client's model name, and its completion tokens."""
    try:
        data = json.loads(body)
    except ValueError:
        return body, 0
    if not isinstance(data, dict):
        return body, 0
    if "model" in data:
        data["model"] = model
    usage = data.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return json.dumps(data).encode(), tokens if isinstance(tokens, int) else 0


async def _relayed_events(response: UpstreamResponse, model: str) -> AsyncIterator[Event]:
    reader = SseReader()
    async for data in response.chunks():
        for payload in reader.feed(data):
            yield relayed_event(payload, model)


class SseReader:
    """Splits a server-sent-event byte stream into the data of each event, as bytes arrive.

    Events may end in `\\n\\n`, `\\r\\n\\r\\n` or `\\r\\r`; an event's `data:`
    lines are joined with newlines; comments (`: ping`) and events without
    data are skipped, as is an unfinished event when the stream ends.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes; return the data of every event they complete."""
        self._buffer += data
        payloads = []
        while (end := _EVENT_END.search(self._buffer)) is not None:
            raw, self._buffer = self._buffer[: end.start()], self._buffer[end.end() :]
            lines = [
                line[5:].removeprefix(b" ")
                for line in _LINE_END.split(raw)
                if line.startswith(b"data:")
            ]
            if lines:
                payloads.append(b"\n".join(lines))
        return payloads


def relayed_event(payload: bytes, model: str) -> Event:
    """One upstream event's data as the event to relay, with the client's model name."""
    if payload.strip() == b"[DONE]":
        return Event("done", DONE_EVENT)
    try:
        chunk: Any = json.loads(payload)
    except ValueError:
        chunk = None
    if not isinstance(chunk, dict):
        return Event("other", b"data: " + payload + b"\n\n")
    if "model" in chunk:
        chunk["model"] = model
    data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    raw_choices = chunk.get("choices")
    choices = (
        [c for c in raw_choices if isinstance(c, dict)] if isinstance(raw_choices, list) else []
    )
    deltas = [c["delta"] for c in choices if isinstance(c.get("delta"), dict)]
    text = "".join(d["content"] for d in deltas if isinstance(d.get("content"), str))
    if any(c.get("finish_reason") is not None for c in choices):
        return Event("closing", data, text)
    if not choices and chunk.get("usage"):
        return Event("closing", data)
    if text or any(d.get("tool_calls") for d in deltas):
        return Event("token", data, text)
    return Event("other", data)
