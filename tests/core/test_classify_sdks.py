"""The classification table against the exceptions today's SDKs really raise.

Every exception here is built from the installed packages' own classes, the way
they build them: anthropic 2.x on its httpx2 transport (its mid-stream error
event parsed by the SDK's own `Stream`), openai on httpx, langchain-core's
`ModelError` tree and the classes langchain-anthropic and langchain-openai
derive from it, and the transports' errors for a dropped or stalled stream.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpcore
import httpcore2
import httpx
import httpx2
import openai
import pytest
from anthropic.types import RawMessageStreamEvent
from langchain_anthropic.chat_models import (
    AnthropicContextOverflowError,
    AnthropicInvalidRequestError,
    AnthropicOverloadedError,
    AnthropicRateLimitError,
    AnthropicTimeoutError,
)
from langchain_core import exceptions as lc
from langchain_openai.chat_models._client_utils import StreamChunkTimeoutError
from langchain_openai.chat_models.base import (
    OpenAIAPIContextOverflowError,
    OpenAIContextOverflowError,
)
from openai.types.chat import ChatCompletionChunk

from fallback_core import Category, classify_error
from fallback_core._health import COUNTED

URL = "http://127.0.0.1:9/v1/messages"


def a_request() -> httpx2.Request:
    return httpx2.Request("POST", URL)


def anthropic_status(
    cls: type[anthropic.APIStatusError],
    status: int,
    error_type: str,
    message: str = "m",
    headers: dict[str, str] | None = None,
) -> anthropic.APIStatusError:
    """A status error as anthropic 2.x builds it: an httpx2 response, the whole envelope as body."""
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    response = httpx2.Response(
        status, headers={"request-id": "req_1", **(headers or {})}, json=body, request=a_request()
    )
    return cls(f"Error code: {status} - {body}", response=response, body=body)


def anthropic_midstream(error_type: str) -> BaseException:
    """What the anthropic SDK raises for an `event: error` after a 200 stream began."""
    events = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
        b'"type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,'
        b'"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n'
        b"event: error\ndata: "
        + json.dumps({"type": "error", "error": {"type": error_type, "message": "x"}}).encode()
        + b"\n\n"
    )
    response = httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=events, request=a_request()
    )
    client = anthropic.Anthropic(api_key="test", base_url="http://127.0.0.1:9")
    stream = anthropic.Stream(cast_to=RawMessageStreamEvent, response=response, client=client)
    with pytest.raises(anthropic.APIStatusError) as raised:
        list(stream)
    return raised.value


def openai_midstream(error_type: str) -> BaseException:
    """What the openai SDK raises for an `{"error": ...}` chunk inside a 200 stream."""
    error = {"message": "x", "type": error_type, "param": None, "code": None}
    content = b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=content,
        request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"),
    )
    client = openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1")
    stream = openai.Stream(cast_to=ChatCompletionChunk, response=response, client=client)
    with pytest.raises(openai.APIError) as raised:
        list(stream)
    return raised.value


def langchain_anthropic(cls: type[anthropic.APIStatusError], status: int) -> BaseException:
    """A langchain-anthropic error as it re-raises the SDK's: same response, body not read."""
    response = httpx2.Response(status, request=a_request())
    return cls(f"Error code: {status}", response=response, body=None)


class RetryableModelError(lc.ModelError):
    is_retryable = True


ENVELOPE: dict[str, Any] = {"response": None, "body": None}
TOO_LONG = "prompt is too long: 210000 tokens > 200000 maximum"

CASES = [
    # anthropic 2.x: the transport is httpx2 / httpcore2, not httpx
    (
        httpx2.RemoteProtocolError("peer closed connection", request=a_request()),
        Category.CONNECTION,
    ),
    (httpx2.ReadError("reset", request=a_request()), Category.CONNECTION),
    (httpx2.ConnectError("refused", request=a_request()), Category.CONNECTION),
    (httpx2.ReadTimeout("read", request=a_request()), Category.TIMEOUT),
    (httpx2.PoolTimeout("pool", request=a_request()), Category.TIMEOUT),
    (httpx2.DecodingError("bad gzip", request=a_request()), Category.MALFORMED),
    (httpcore2.RemoteProtocolError("incomplete chunked read"), Category.CONNECTION),
    (httpcore2.ReadTimeout("read"), Category.TIMEOUT),
    (httpcore.RemoteProtocolError("incomplete chunked read"), Category.CONNECTION),
    (anthropic.APIConnectionError(request=a_request()), Category.CONNECTION),
    (anthropic.APITimeoutError(a_request()), Category.TIMEOUT),
    # anthropic status errors
    (anthropic_status(anthropic.OverloadedError, 529, "overloaded_error"), Category.SERVER),
    (anthropic_status(anthropic.InternalServerError, 500, "api_error"), Category.SERVER),
    (anthropic_status(anthropic.GatewayTimeoutError, 504, "timeout_error"), Category.SERVER),
    (anthropic_status(anthropic.RateLimitError, 429, "rate_limit_error"), Category.RATE_LIMIT),
    (anthropic_status(anthropic.PaymentRequiredError, 402, "billing_error"), Category.AUTH),
    (anthropic_status(anthropic.PermissionDeniedError, 403, "permission_error"), Category.AUTH),
    (anthropic_status(anthropic.NotFoundError, 404, "not_found_error"), Category.BAD_REQUEST),
    (anthropic_status(anthropic.RequestTimeoutError, 408, "timeout_error"), Category.TIMEOUT),
    (
        anthropic_status(anthropic.ContentTooLargeError, 413, "request_too_large"),
        Category.CONTEXT_LENGTH,
    ),
    # Anthropic's context overflow: an untyped 400 told apart by the API's own message
    (
        anthropic_status(anthropic.BadRequestError, 400, "invalid_request_error", TOO_LONG),
        Category.CONTEXT_LENGTH,
    ),
    (
        anthropic_status(
            anthropic.BadRequestError,
            400,
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000",
        ),
        Category.CONTEXT_LENGTH,
    ),
    (
        anthropic_status(
            anthropic.BadRequestError,
            400,
            "invalid_request_error",
            "messages: roles must alternate",
        ),
        Category.BAD_REQUEST,
    ),
    (
        anthropic_status(anthropic.BadRequestError, 400, "api_error", TOO_LONG),
        Category.BAD_REQUEST,
    ),
    # the API's `event: error` after a 200: the SDK raises an APIStatusError with status 200
    (anthropic_midstream("overloaded_error"), Category.SERVER),
    (anthropic_midstream("api_error"), Category.SERVER),
    (anthropic_midstream("rate_limit_error"), Category.RATE_LIMIT),
    (openai_midstream("server_error"), Category.SERVER),
    # langchain-anthropic's typed errors (langchain-core's ModelError tree), untyped body
    (langchain_anthropic(AnthropicContextOverflowError, 400), Category.CONTEXT_LENGTH),
    (langchain_anthropic(AnthropicInvalidRequestError, 400), Category.BAD_REQUEST),
    (langchain_anthropic(AnthropicOverloadedError, 529), Category.SERVER),
    (langchain_anthropic(AnthropicRateLimitError, 429), Category.RATE_LIMIT),
    (AnthropicTimeoutError(a_request()), Category.TIMEOUT),
    # langchain-openai
    (
        OpenAIContextOverflowError(
            "too long",
            response=httpx.Response(400, request=httpx.Request("POST", URL)),
            body=None,
        ),
        Category.CONTEXT_LENGTH,
    ),
    (
        OpenAIAPIContextOverflowError(
            "exceeds the context window", httpx.Request("POST", URL), body=None
        ),
        Category.CONTEXT_LENGTH,
    ),
    (StreamChunkTimeoutError(5.0, model_name="gpt", chunks_received=3), Category.TIMEOUT),
    (openai.ContentFilterFinishReasonError(), Category.CONTENT_POLICY),
    # langchain-core's provider-neutral tree, as other integrations raise it
    (lc.ContextOverflowError("too long"), Category.CONTEXT_LENGTH),
    (lc.ModelRateLimitError(), Category.RATE_LIMIT),
    (lc.ModelAPIError(), Category.SERVER),
    (lc.ModelConnectionError(), Category.CONNECTION),
    (lc.ModelTimeoutError(), Category.TIMEOUT),
    (lc.ModelAuthenticationError(), Category.AUTH),
    (lc.ModelPermissionDeniedError(), Category.AUTH),
    (lc.ModelInvalidRequestError(), Category.BAD_REQUEST),
    (lc.ModelNotFoundError(), Category.BAD_REQUEST),
    (lc.ModelRefusalError(), Category.CONTENT_POLICY),
    (RetryableModelError(), Category.SERVER),
    (lc.ModelError(), Category.UNKNOWN),
    # programming errors
    (TypeError("create() got an unexpected keyword argument 'x'"), Category.BUG),
    (AttributeError("'NoneType' object has no attribute 'usage'"), Category.BUG),
    (NameError("name 'x' is not defined"), Category.BUG),
    (ModuleNotFoundError("No module named 'anthropic.lib'"), Category.BUG),
    (ImportError("cannot import name 'X'"), Category.BUG),
    (NotImplementedError(), Category.BUG),
    (TimeoutError(), Category.TIMEOUT),
]


@pytest.mark.parametrize(
    ("exc", "category"),
    CASES,
    ids=[f"{type(e).__module__.split('.')[0]}.{type(e).__name__}-{c.value}" for e, c in CASES],
)
def test_real_sdk_errors_are_classified(exc: BaseException, category: Category) -> None:
    """Each exception the installed SDKs raise lands in its category."""
    assert classify_error(exc).category is category


def _status_classes(module: Any) -> list[type[Any]]:
    base = module.APIStatusError
    return sorted(
        (
            cls
            for name in dir(module)
            if isinstance(cls := getattr(module, name), type)
            and issubclass(cls, base)
            and isinstance(cls.__dict__.get("status_code"), int)
        ),
        key=lambda cls: cls.__name__,
    )


@pytest.mark.parametrize("cls", _status_classes(anthropic), ids=lambda cls: cls.__name__)
def test_every_anthropic_status_error_is_known(cls: type[anthropic.APIStatusError]) -> None:
    """No status error class the anthropic SDK exports is left unknown."""
    error = anthropic_status(cls, cls.__dict__["status_code"], "some_error")
    assert classify_error(error).category is not Category.UNKNOWN


@pytest.mark.parametrize("cls", _status_classes(openai), ids=lambda cls: cls.__name__)
def test_every_openai_status_error_is_known(cls: type[openai.APIStatusError]) -> None:
    """No status error class the openai SDK exports is left unknown."""
    status = cls.__dict__["status_code"]
    response = httpx.Response(status, request=httpx.Request("POST", URL))
    assert classify_error(cls("m", response=response, body=None)).category is not Category.UNKNOWN


def test_a_stream_cut_or_midstream_overload_counts_for_health() -> None:
    """What an Anthropic hop raises for a dropped stream or an overload counts against it."""
    cut = httpx2.RemoteProtocolError("peer closed connection", request=a_request())
    for exc in (cut, anthropic_midstream("overloaded_error")):
        assert classify_error(exc).category in COUNTED


def test_the_anthropic_retry_after_header_is_read_from_httpx2_headers() -> None:
    """anthropic 2.x's httpx2 response headers give the Retry-After, like httpx's."""
    error = anthropic_status(
        anthropic.RateLimitError, 429, "rate_limit_error", headers={"retry-after": "3"}
    )
    assert classify_error(error).retry_after == 3.0


def test_the_context_message_is_read_only_from_the_api_body() -> None:
    """An error whose text says "prompt is too long" but whose body does not is a plain 400."""
    error = anthropic_status(anthropic.BadRequestError, 400, "invalid_request_error", "other")
    error.args = (TOO_LONG,)
    error.message = TOO_LONG
    assert classify_error(error).category is Category.BAD_REQUEST
