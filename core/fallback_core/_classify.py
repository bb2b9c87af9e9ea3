"""What kind of failure an exception is, decided by type and status code.

The core imports no provider SDK. Provider errors are recognised by duck typing
on the attributes those SDKs define (``status_code``, ``response.headers``,
``code``, ``body``) and by the qualified names of the classes in the exception's
MRO (as httpx maps httpcore's exceptions onto its own). Words in ``str(exc)``
are never consulted.

What is recognised, in order:

- our own hop failures (truncated, malformed, stalled);
- an HTTP error status (429, 5xx, 401/403, other 4xx), refined by the body's
  machine-readable code (``context_length_exceeded``, ``content_filter``, ...);
- transport errors of ``httpx`` and ``httpx2`` (the transport of anthropic 2.x),
  ``httpcore`` / ``httpcore2``, ``aiohttp`` and ``requests``, and the SDKs'
  ``APITimeoutError`` / ``APIConnectionError``;
- langchain-core's provider-neutral ``ModelError`` tree (``ContextOverflowError``,
  ``ModelRateLimitError``, ..., and ``is_retryable`` for subclasses it does not name);
- an error event inside a stream that started with HTTP 200 (Anthropic's
  ``event: error``, OpenAI's ``{"error": ...}`` chunk): the body's error ``type``
  (``overloaded_error``, ``api_error``, ``rate_limit_error``, ...);
- programming errors (``TypeError``, ``AttributeError``, ``NameError``,
  ``ImportError``, ``SyntaxError``, ``NotImplementedError``) as `Category.BUG`.

One documented exception to "never words": Anthropic reports a prompt longer
than the model's context as a plain 400 ``invalid_request_error`` with no code
of its own. Only for that shape is the API's own ``error.message`` field (from
the body, never ``str(exc)``) checked for the prefixes the API uses
(`ANTHROPIC_CONTEXT_MESSAGES`), as langchain-anthropic does before raising its
typed ``ContextOverflowError``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass

from ._bodies import error_code, error_object, error_type, retry_after, status_code
from ._errors import (
    BadAnswerError,
    MalformedChunkError,
    SeamError,
    StreamTimeoutError,
    StreamTruncatedError,
)

__all__ = ["ANTHROPIC_CONTEXT_MESSAGES", "Category", "ErrorInfo", "classify_error"]


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
    BUG = "bug"
    BAD_ANSWER = "bad_answer"
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

#: How the Anthropic API's ``error.message`` starts for a prompt too long for the model.
ANTHROPIC_CONTEXT_MESSAGES = (
    "prompt is too long",  # "prompt is too long: 210000 tokens > 200000 maximum"
    "input length and `max_tokens` exceed context limit",
)

# The error ``type`` in a body that came without an HTTP error status: an error
# event inside a stream that began with 200 (Anthropic's types; OpenAI's server_error).
_ERROR_TYPES: Mapping[str, Category] = {
    "overloaded_error": Category.SERVER,
    "api_error": Category.SERVER,
    "server_error": Category.SERVER,
    "rate_limit_error": Category.RATE_LIMIT,
    "timeout_error": Category.TIMEOUT,
    "authentication_error": Category.AUTH,
    "permission_error": Category.AUTH,
    "billing_error": Category.AUTH,
    "invalid_request_error": Category.BAD_REQUEST,
    "not_found_error": Category.BAD_REQUEST,
    "request_too_large": Category.CONTEXT_LENGTH,
}

# Qualified class names found in the MRO of provider and transport errors.
# Checked in order: a timeout is also a connection error in openai's tree.
_TIMEOUT_TYPES = frozenset(
    {
        "httpx.TimeoutException",
        "httpx2.TimeoutException",
        "httpcore.TimeoutException",
        "httpcore2.TimeoutException",
        "openai.APITimeoutError",
        "anthropic.APITimeoutError",
        "langchain_core.ModelTimeoutError",
        "requests.exceptions.Timeout",
    }
)
_CONNECTION_TYPES = frozenset(
    {
        "httpx.TransportError",  # ConnectError, ReadError, RemoteProtocolError, ...
        "httpx2.TransportError",
        "httpcore.NetworkError",
        "httpcore2.NetworkError",
        "httpcore.RemoteProtocolError",
        "httpcore2.RemoteProtocolError",
        "openai.APIConnectionError",
        "anthropic.APIConnectionError",
        "langchain_core.ModelConnectionError",
        "aiohttp.ClientConnectionError",
        "aiohttp.ClientPayloadError",
        "requests.exceptions.ConnectionError",
    }
)
_MALFORMED_TYPES = frozenset({"httpx.DecodingError", "httpx2.DecodingError"})

# langchain-core's provider-neutral tree (langchain_core.exceptions); the
# integrations raise these as subclasses of their SDK's own errors. Checked
# after the HTTP status, which those subclasses carry too.
_MODEL_ERROR_TYPES: tuple[tuple[str, Category], ...] = (
    ("openai.ContentFilterFinishReasonError", Category.CONTENT_POLICY),  # openai's parse helpers
    ("langchain_core.ContextOverflowError", Category.CONTEXT_LENGTH),
    ("langchain_core.ModelRefusalError", Category.CONTENT_POLICY),
    ("langchain_core.ModelRateLimitError", Category.RATE_LIMIT),
    ("langchain_core.ModelAPIError", Category.SERVER),
    ("langchain_core.ModelAuthenticationError", Category.AUTH),
    ("langchain_core.ModelPermissionDeniedError", Category.AUTH),
    ("langchain_core.ModelInvalidRequestError", Category.BAD_REQUEST),
    ("langchain_core.ModelNotFoundError", Category.BAD_REQUEST),
)

#: Programming errors: the code calling the provider is broken, not the provider.
BUG_TYPES: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    ImportError,
    SyntaxError,
    NotImplementedError,
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
    if isinstance(exc, BadAnswerError):
        return ErrorInfo(Category.BAD_ANSWER)

    names = _qualified_names(exc)
    status = status_code(exc)
    code = error_code(exc, _CONTEXT_CODES | _CONTENT_POLICY_CODES)
    if status is not None:
        category = _by_status(status, code)
        if category is Category.BAD_REQUEST and (
            "langchain_core.ContextOverflowError" in names or _anthropic_context_overflow(exc)
        ):
            category = Category.CONTEXT_LENGTH
        return ErrorInfo(category, status, retry_after(exc), code)

    if isinstance(exc, TimeoutError) or names & _TIMEOUT_TYPES:
        return ErrorInfo(Category.TIMEOUT, code=code)
    if isinstance(exc, ConnectionError) or names & _CONNECTION_TYPES:
        return ErrorInfo(Category.CONNECTION, code=code)
    if names & _MALFORMED_TYPES:
        return ErrorInfo(Category.MALFORMED, code=code)
    if code in _CONTEXT_CODES:
        return ErrorInfo(Category.CONTEXT_LENGTH, code=code)
    if code in _CONTENT_POLICY_CODES:
        return ErrorInfo(Category.CONTENT_POLICY, code=code)
    for name, category in _MODEL_ERROR_TYPES:
        if name in names:
            return ErrorInfo(category, code=code)
    if "langchain_core.ModelError" in names and getattr(exc, "is_retryable", False) is True:
        return ErrorInfo(Category.SERVER, code=code)
    kind = error_type(exc)
    if kind is not None and kind in _ERROR_TYPES:
        return ErrorInfo(_ERROR_TYPES[kind], code=code or kind)
    if isinstance(exc, BUG_TYPES):
        return ErrorInfo(Category.BUG)
    return ErrorInfo(Category.UNKNOWN, code=code)


def _by_status(status: int, code: str | None) -> Category:
    if status == 429:
        return Category.RATE_LIMIT
    if code in _CONTEXT_CODES:
        return Category.CONTEXT_LENGTH
    if code in _CONTENT_POLICY_CODES:
        return Category.CONTENT_POLICY
    if status in (401, 402, 403):
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


def _anthropic_context_overflow(exc: BaseException) -> bool:
    """A 400 ``invalid_request_error`` whose API message says the prompt is too long.

    The one place a message is read (see the module docstring): the Anthropic
    API gives this error no code of its own.
    """
    error = error_object(exc)
    if error is None or error.get("type") != "invalid_request_error":
        return False
    message = error.get("message")
    return isinstance(message, str) and message.startswith(ANTHROPIC_CONTEXT_MESSAGES)
