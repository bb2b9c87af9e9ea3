"""When a hop's request actually went out, so ``first_token_timeout`` does not count queueing.

A client may hold a request back before sending it - waiting for a free
connection of its pool, say - and that wait says nothing about the provider.
The driver makes `request_sent` reach the attempt in flight (through a context
variable, so it works on the helper thread of a sync read and in the task of
an async one); a hop client that can tell when its request left calls it.

`watch_requests` does that for an httpx client (the openai and anthropic SDKs
use one): an event hook adds httpcore's ``trace`` extension to each request
made during a chain's attempt, and the trace calls `request_sent` once the
request body has been written. Outside a chain's attempt the hook does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

__all__ = ["mark_requests", "request_sent", "unmark_requests", "watch_clients", "watch_requests"]

_mark: ContextVar[Callable[[], None] | None] = ContextVar("fallback_request_sent", default=None)

_SENT = ("send_request_body.complete",)


def request_sent() -> None:
    """Tell the attempt in flight that its request has just been sent.

    Its ``first_token_timeout`` then counts from now rather than from when the
    attempt started. Does nothing outside an attempt.
    """
    mark = _mark.get()
    if mark is not None:
        mark()


def mark_requests(mark: Callable[[], None]) -> Token[Callable[[], None] | None]:
    """Make `request_sent` call ``mark`` in this context (the driver, per attempt)."""
    return _mark.set(mark)


def unmark_requests(token: Token[Callable[[], None] | None]) -> None:
    """Undo `mark_requests`, in the context that made it."""
    _mark.reset(token)


def watch_requests(http_client: Any) -> bool:
    """Add a hook to an httpx ``Client`` / ``AsyncClient`` reporting when each request is sent.

    Idempotent. Returns False for an object that has no httpx event hooks.
    """
    hooks = getattr(http_client, "event_hooks", None)
    if not isinstance(hooks, dict):
        return False
    hook = _on_async_request if _is_async(http_client) else _on_request
    requests = list(hooks.get("request", []))
    if hook not in requests:
        http_client.event_hooks = {**hooks, "request": [*requests, hook]}
    return True


# Where SDK clients keep their httpx client, and where integrations keep their SDK clients:
# openai's and anthropic's clients hold it in `_client`; ChatOpenAI holds its SDK clients
# in `root_client` / `root_async_client`, ChatAnthropic in `_client` / `_async_client`,
# LlamaIndex's Anthropic in `_client` / `_aclient`.
_HOLDERS = ("root_client", "root_async_client", "_client", "_async_client", "_aclient")


def watch_clients(model: object) -> int:
    """`watch_requests` on every httpx client ``model`` keeps (directly or in its SDK clients).

    For a hop's model object: a request it sends then reaches the attempt in
    flight. Returns how many clients are watched; attributes that fail to load
    are passed over.
    """
    watched = 0
    for name in _HOLDERS:
        try:
            holder = getattr(model, name, None)
        except Exception:  # a lazy client that cannot be made here is not watched
            continue
        http = holder if hasattr(holder, "event_hooks") else getattr(holder, "_client", None)
        watched += watch_requests(http)
    return watched


def _is_async(client: Any) -> bool:
    return any(cls.__name__ == "AsyncClient" for cls in type(client).__mro__)


def _on_request(request: Any) -> None:
    mark = _mark.get()
    if mark is None:
        return
    inner = request.extensions.get("trace")

    def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith(_SENT):
            mark()
        if inner is not None:
            inner(name, info)

    request.extensions["trace"] = trace


async def _on_async_request(request: Any) -> None:
    mark = _mark.get()
    if mark is None:
        return
    inner = request.extensions.get("trace")

    async def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith(_SENT):
            mark()
        if inner is not None:
            await inner(name, info)

    request.extensions["trace"] = trace
