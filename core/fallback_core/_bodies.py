"""Reading a provider error: its HTTP status, its body's error code and type, its Retry-After.

Duck-typed on what the openai and anthropic SDKs (and httpx) put on their
exceptions: ``status_code`` or ``response.status_code``, ``code``, ``body``
(OpenAI's inner error object, or Anthropic's ``{"type": "error", "error":
{...}}`` envelope) and ``response.headers``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["error_code", "error_object", "error_type", "retry_after", "status_code"]


def status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) and status >= 400 else None


def error_object(exc: BaseException) -> Mapping[str, Any] | None:
    """The body's error object: Anthropic's ``{"type": "error", "error": {...}}`` or OpenAI's."""
    body = getattr(exc, "body", None)
    if not isinstance(body, Mapping):
        return None
    error = body.get("error", body)
    return error if isinstance(error, Mapping) else None


def error_code(exc: BaseException, known_types: frozenset[str] = frozenset()) -> str | None:
    """The machine-readable error code: openai's ``code``, else the body's.

    A body's ``type`` counts as its code when it is one of ``known_types``
    (Anthropic's ``request_too_large`` is a type, not a code).
    """
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    error = error_object(exc)
    if error is not None:
        for key in ("code", "type"):
            value = error.get(key)
            if isinstance(value, str) and (key == "code" or value in known_types):
                return value
    return None


def error_type(exc: BaseException) -> str | None:
    """The body's error ``type`` (``overloaded_error``, ``api_error``, ...)."""
    error = error_object(exc)
    kind = None if error is None else error.get("type")
    return kind if isinstance(kind, str) else None


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait, from ``retry-after-ms`` or ``Retry-After``."""
    headers: Any = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
