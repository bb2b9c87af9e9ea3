"""Real provider exception objects, built the way the SDKs build them."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import httpx2
import openai

URL = "http://127.0.0.1:9/v1/chat/completions"
_OPENAI = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def openai_error(
    status: int, *, code: str | None = None, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    """An openai status error as the client raises it (body is the inner ``error`` object)."""
    body: dict[str, Any] = {
        "message": f"status {status}",
        "type": "error",
        "param": None,
        "code": code,
    }
    response = httpx.Response(
        status, headers=headers or {}, json={"error": body}, request=httpx.Request("POST", URL)
    )
    cls = _OPENAI.get(
        status, openai.InternalServerError if status >= 500 else openai.APIStatusError
    )
    return cls(f"Error code: {status}", response=response, body=body)


def anthropic_error(
    status: int, error_type: str, *, headers: dict[str, str] | None = None
) -> anthropic.APIStatusError:
    """An anthropic status error as the client raises it (body is the whole envelope).

    anthropic 2.x speaks httpx2, so its responses are httpx2's.
    """
    body = {"type": "error", "error": {"type": error_type, "message": "m"}}
    response = httpx2.Response(
        status, headers=headers or {}, json=body, request=httpx2.Request("POST", URL)
    )
    classes: dict[int, type[anthropic.APIStatusError]] = {
        400: anthropic.BadRequestError,
        401: anthropic.AuthenticationError,
        413: anthropic.RequestTooLargeError,
        429: anthropic.RateLimitError,
        529: anthropic.OverloadedError,
    }
    cls = classes.get(status, anthropic.InternalServerError)
    return cls("m", response=response, body=body)


def request() -> httpx.Request:
    return httpx.Request("POST", URL)
