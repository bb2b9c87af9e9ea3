"""When a hop's request actually went out, so ``first_token_timeout`` does not count queueing.

A client may hold a request back before sending it - waiting for a free
connection of its pool, say - and that wait says nothing about the provider.
The driver makes two reports reach the attempt in flight (through a context
variable, so they work on the helper thread of a sync read and in the task of
an async one): `request_queued` - the client has the request but has not sent
it yet, so the first-token wait is held - and `request_sent` - it has gone out,
so the first-token wait starts now. A hop client that can tell calls them; one
that calls neither has its first-token wait counted from the attempt's start.
While a request is held, the attempt's ``timeout``, the call's ``deadline``
(and its share) and the client's own pool and connect timeouts still apply.

`watch_requests` does that for an httpx client (``httpx`` or ``httpx2``; the
openai and anthropic SDKs use one): an event hook reports each request made
during a chain's attempt as queued when the client takes it, and adds
httpcore's ``trace`` extension, which reports it sent once its body has been
written - after the client got a connection from its pool. Outside a chain's
attempt the hook does nothing, so the client can go on serving other code.
Given an openai or anthropic SDK client, it watches the httpx client that SDK
client sends through.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any, Protocol

__all__ = [
    "Reports",
    "mark_requests",
    "request_queued",
    "request_sent",
    "unmark_requests",
    "watch_requests",
]


class Reports(Protocol):
    """What the attempt in flight does with its client's reports (see `Walk.send_reports`)."""

    def queued(self) -> None: ...

    def sent(self) -> None: ...


_mark: ContextVar[Reports | None] = ContextVar("fallback_request_reports", default=None)

_SENT = ("send_request_body.complete",)


def request_queued() -> None:
    """Tell the attempt in flight that its request waits inside the client, not yet sent.

    Its ``first_token_timeout`` is held until `request_sent`. Does nothing
    outside an attempt.
    """
    reports = _mark.get()
    if reports is not None:
        reports.queued()


def request_sent() -> None:
    """Tell the attempt in flight that its request has just been sent.

    Its ``first_token_timeout`` then counts from now rather than from when the
    attempt started. Does nothing outside an attempt.
    """
    reports = _mark.get()
    if reports is not None:
        reports.sent()


def mark_requests(reports: Reports) -> Token[Reports | None]:
    """Send `request_queued` / `request_sent` to ``reports`` in this context (the driver)."""
    return _mark.set(reports)


def unmark_requests(token: Token[Reports | None]) -> None:
    """Undo `mark_requests`, in the context that made it."""
    _mark.reset(token)


def watch_requests(http_client: Any) -> bool:
    """Add a hook to an httpx ``Client`` / ``AsyncClient`` reporting when each request is sent.

    ``http_client`` may also be an openai or anthropic SDK client (``OpenAI``,
    ``AsyncAnthropic``, ...): the httpx client it sends through is watched.
    Idempotent. Returns False for an object that has no httpx event hooks.
    """
    if not isinstance(getattr(http_client, "event_hooks", None), dict):
        http_client = getattr(http_client, "_client", None)  # where those SDKs keep theirs
    hooks = getattr(http_client, "event_hooks", None)
    if not isinstance(hooks, dict):
        return False
    hook = _on_async_request if _is_async(http_client) else _on_request
    requests = list(hooks.get("request", []))
    if hook not in requests:
        http_client.event_hooks = {**hooks, "request": [*requests, hook]}
    return True


def _is_async(client: Any) -> bool:
    return any(cls.__name__ == "AsyncClient" for cls in type(client).__mro__)


def _on_request(request: Any) -> None:
    reports = _mark.get()
    if reports is None:
        return
    reports.queued()
    inner = request.extensions.get("trace")

    def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith(_SENT):
            reports.sent()
        if inner is not None:
            inner(name, info)

    request.extensions["trace"] = trace


async def _on_async_request(request: Any) -> None:
    reports = _mark.get()
    if reports is None:
        return
    reports.queued()
    inner = request.extensions.get("trace")

    async def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith(_SENT):
            reports.sent()
        if inner is not None:
            await inner(name, info)

    request.extensions["trace"] = trace
