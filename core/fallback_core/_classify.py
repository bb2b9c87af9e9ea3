"""What kind of failure an exception is, decided by type and status code.

The core imports no provider SDK. Provider errors are recognised by duck typing
on the attributes those SDKs define (``status_code``, ``response.headers``,
``code``, ``body``) and by the qualified names of the classes in the exception's
MRO (as httpx maps httpcore's exceptions onto its own). Words in ``str(exc)``
are never consulted.
"""

from __future__ import annotations

import email.utils
import enum
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import MalformedChunkError, SeamError, StreamTimeoutError, StreamTruncatedError

__all__ = ["Category", "ErrorInfo", "classify_error"]


class Category(enum.Enum):
    """Kinds of failure; the policy maps each to retry, fall back or raise."""

    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    SEAM = "seam"
    CONTEXT_LENGTH = "context_length"
    CONTENT_POLICY = "content_policy"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A classified failure: its category plus what the response said."""

    category: Category
    status_code: int | None = None
    retry_after: float | None = None
    code: str | None = None


_CONTEXT_CODES = frozenset(
    {
        "context_length_exceeded",  # OpenAI, Azure, vLLM, most OpenAI-compatible servers
        "exceed_context_size_error",  # llama.cpp server
        "request_too_large",  # Anthropic (413)
    }
)
_CONTENT_POLICY_CODES = frozenset(
    {"content_policy_violation", "content_filter", "content_filtered", "safety"}
)

# Qualified class names found in the MRO of provider and transport errors.
# Checked in order: a timeout is also a connection error in openai's tree.
_TIMEOUT_TYPES = frozenset(
    {
        "httpx.TimeoutException",
        "httpcore.TimeoutException",
        "openai.APITimeoutError",
        "anthropic.APITimeoutError",
        "requests.exceptions.Timeout",
    }
)
_CONNECTION_TYPES = frozenset(
    {
        "httpx.TransportError",  # ConnectError, ReadError, RemoteProtocolError, ...
        "httpcore.NetworkError",
        "httpcore.RemoteProtocolError",
        "openai.APIConnectionError",
        "anthropic.APIConnectionError",
        "aiohttp.ClientConnectionError",
        "aiohttp.ClientPayloadError",
        "requests.exceptions.ConnectionError",
    }
)


def classify_error(exc: BaseException) -> ErrorInfo:
    """Classify ``exc`` into a `Category`, reading status, code and Retry-After."""
    if isinstance(exc, StreamTruncatedError):
        return ErrorInfo(Category.TRUNCATED)
    if isinstance(exc, (MalformedChunkError, json.JSONDecodeError)):
        return ErrorInfo(Category.MALFORMED)
    if isinstance(exc, StreamTimeoutError):
        return ErrorInfo(Category.TIMEOUT)
    if isinstance(exc, SeamError):
        return ErrorInfo(Category.SEAM)

    status = _status_code(exc)
    code = _error_code(exc)
    if status is not None:
        return ErrorInfo(_by_status(status, code), status, _retry_after(exc), code)

    names = _qualified_names(exc)
    if isinstance(exc, TimeoutError) or names & _TIMEOUT_TYPES:
        return ErrorInfo(Category.TIMEOUT, code=code)
    if isinstance(exc, ConnectionError) or names & _CONNECTION_TYPES:
        return ErrorInfo(Category.CONNECTION, code=code)
    if code in _CONTEXT_CODES:
        return ErrorInfo(Category.CONTEXT_LENGTH, code=code)
    if code in _CONTENT_POLICY_CODES:
        return ErrorInfo(Category.CONTENT_POLICY, code=code)
    return ErrorInfo(Category.UNKNOWN, code=code)


def _by_status(status: int, code: str | None) -> Category:
    if status == 429:
        return Category.RATE_LIMIT
    if code in _CONTEXT_CODES:
        return Category.CONTEXT_LENGTH
    if code in _CONTENT_POLICY_CODES:
        return Category.CONTENT_POLICY
    if status in (401, 403):
        return Category.AUTH
    if status == 408:
        return Category.TIMEOUT
    if status == 409 or status >= 500:
        return Category.SERVER
    if 400 <= status < 500:
        return Category.BAD_REQUEST
    return Category.UNKNOWN


def _qualified_names(exc: BaseException) -> frozenset[str]:
    names = set()
    for cls in type(exc).__mro__:
        top = cls.__module__.split(".", 1)[0]
        names.add(f"{top}.{cls.__qualname__}")
        names.add(f"{cls.__module__}.{cls.__qualname__}")
    return frozenset(names)


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) and status >= 400 else None


def _error_code(exc: BaseException) -> str | None:
    """The machine-readable error code: openai's ``code``, else the body's."""
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            for key in ("code", "type"):
                value = error.get(key)
                if isinstance(value, str) and (
                    value in _CONTEXT_CODES or value in _CONTENT_POLICY_CODES or key == "code"
                ):
                    return value
    return None


def _retry_after(exc: BaseException) -> float | None:
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
