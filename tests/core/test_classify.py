"""The default classification table, against real openai, anthropic and httpx errors."""

from __future__ import annotations

import email.utils
import time

import anthropic
import httpx
import openai
import pytest

from fallback_core import (
    Category,
    MalformedChunkError,
    StreamTimeoutError,
    StreamTruncatedError,
    classify_error,
)

from .errors import anthropic_error, openai_error, request

CASES = [
    pytest.param(openai_error(429), Category.RATE_LIMIT, id="openai-429"),
    pytest.param(openai_error(500), Category.SERVER, id="openai-500"),
    pytest.param(openai_error(502), Category.SERVER, id="openai-502"),
    pytest.param(openai_error(503), Category.SERVER, id="openai-503"),
    pytest.param(openai_error(504), Category.SERVER, id="openai-504"),
    pytest.param(openai_error(409), Category.SERVER, id="openai-409-conflict"),
    pytest.param(anthropic_error(529, "overloaded_error"), Category.SERVER, id="anthropic-529"),
    pytest.param(anthropic_error(429, "rate_limit_error"), Category.RATE_LIMIT, id="anthropic-429"),
    pytest.param(
        openai_error(400, code="context_length_exceeded"), Category.CONTEXT_LENGTH, id="ctx"
    ),
    pytest.param(
        anthropic_error(413, "request_too_large"), Category.CONTEXT_LENGTH, id="anthropic-413"
    ),
    pytest.param(
        openai_error(400, code="content_policy_violation"), Category.CONTENT_POLICY, id="policy"
    ),
    pytest.param(openai_error(400, code="content_filter"), Category.CONTENT_POLICY, id="azure"),
    pytest.param(openai_error(401), Category.AUTH, id="openai-401"),
    pytest.param(openai_error(403), Category.AUTH, id="openai-403"),
    pytest.param(anthropic_error(401, "authentication_error"), Category.AUTH, id="anthropic-401"),
    pytest.param(openai_error(400), Category.BAD_REQUEST, id="openai-400"),
    pytest.param(openai_error(404), Category.BAD_REQUEST, id="openai-404"),
    pytest.param(openai_error(422), Category.BAD_REQUEST, id="openai-422"),
    pytest.param(openai.APITimeoutError(request()), Category.TIMEOUT, id="openai-timeout"),
    pytest.param(
        openai.APIConnectionError(request=request()), Category.CONNECTION, id="openai-connection"
    ),
    pytest.param(anthropic.APITimeoutError(request()), Category.TIMEOUT, id="anthropic-timeout"),
    pytest.param(httpx.ReadTimeout("read", request=request()), Category.TIMEOUT, id="httpx-read"),
    pytest.param(httpx.ConnectTimeout("c", request=request()), Category.TIMEOUT, id="httpx-ct"),
    pytest.param(httpx.ConnectError("refused", request=request()), Category.CONNECTION, id="ce"),
    pytest.param(
        httpx.RemoteProtocolError("peer closed connection", request=request()),
        Category.CONNECTION,
        id="httpx-remote-protocol",
    ),
    pytest.param(httpx.ReadError("reset", request=request()), Category.CONNECTION, id="read"),
    pytest.param(
        httpx.HTTPStatusError(
            "x", request=request(), response=httpx.Response(503, request=request())
        ),
        Category.SERVER,
        id="httpx-status-503",
    ),
    pytest.param(TimeoutError(), Category.TIMEOUT, id="builtin-timeout"),
    pytest.param(TimeoutError(), Category.TIMEOUT, id="asyncio-timeout"),
    pytest.param(ConnectionResetError(), Category.CONNECTION, id="builtin-reset"),
    pytest.param(ConnectionRefusedError(), Category.CONNECTION, id="builtin-refused"),
    pytest.param(StreamTruncatedError(), Category.TRUNCATED, id="truncated"),
    pytest.param(StreamTimeoutError("idle", 1.0), Category.TIMEOUT, id="stall"),
    pytest.param(MalformedChunkError(), Category.MALFORMED, id="malformed"),
    pytest.param(ValueError("anything else"), Category.UNKNOWN, id="unknown"),
]


@pytest.mark.parametrize(("exc", "category"), CASES)
def test_errors_are_classified_by_type_and_status(exc: BaseException, category: Category) -> None:
    """Each provider or transport error lands in its category without reading its message."""
    assert classify_error(exc).category is category


def test_retry_after_seconds_is_read_from_the_response_headers() -> None:
    """A 429's Retry-After header (in seconds) is carried on the classification."""
    info = classify_error(openai_error(429, headers={"retry-after": "7"}))
    assert info.retry_after == 7.0
    assert info.status_code == 429


def test_retry_after_ms_wins_over_retry_after() -> None:
    """OpenAI's retry-after-ms is more precise than Retry-After and is preferred."""
    info = classify_error(openai_error(429, headers={"retry-after-ms": "250", "retry-after": "9"}))
    assert info.retry_after == pytest.approx(0.25)


def test_retry_after_http_date_is_converted_to_seconds() -> None:
    """Retry-After given as an HTTP date becomes the seconds until that date."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    info = classify_error(anthropic_error(429, "rate_limit_error", headers={"retry-after": when}))
    assert info.retry_after is not None
    assert 25 <= info.retry_after <= 31


def test_unparseable_retry_after_is_ignored() -> None:
    """A Retry-After that is neither a number nor a date gives no delay rather than an error."""
    assert classify_error(openai_error(429, headers={"retry-after": "soon"})).retry_after is None


def test_message_words_are_never_consulted() -> None:
    """A generic error whose message mentions rate limits stays unknown."""
    assert classify_error(RuntimeError("429 rate limit context_length_exceeded")).category is (
        Category.UNKNOWN
    )


def test_code_without_status_still_classifies() -> None:
    """An error carrying only a machine-readable code (e.g. an SDK stream error) is classified."""
    exc = openai.APIError("stream error", request(), body={"code": "context_length_exceeded"})
    assert classify_error(exc).category is Category.CONTEXT_LENGTH
