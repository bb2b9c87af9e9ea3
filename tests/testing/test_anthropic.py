"""The fault server's Anthropic Messages API, checked with the real `anthropic` SDK.

The SDK must parse every answer and raise, for every fault, the exception it
raises against api.anthropic.com: that is what the adapters' tests rely on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import pytest
from packaging.version import Version

from fallback_core import Category, classify_error
from fallback_core.testing import Fault, FaultServer

from .conftest import PRIMARY_ANSWER

HI = [{"role": "user", "content": "Please say something useful"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


WRAPS_BODY_ERRORS = Version(anthropic.__version__) >= Version("2.17")
"""Whether the SDK wraps a failed read of a streamed body in its own error (since 2.17)."""


def assert_body_error(
    error: BaseException | None, raw: type[Exception], wrapper: type[anthropic.APIError]
) -> None:
    """``error`` is what the installed SDK raises when reading a streamed body fails with ``raw``.

    Up to 2.16 httpx2's own error escapes the stream; from 2.17 the SDK raises
    its ``wrapper`` (``APITimeoutError`` or ``APIConnectionError``) from it.
    """
    if WRAPS_BODY_ERRORS:
        assert isinstance(error, wrapper), error
        assert isinstance(error.__cause__, raw), error.__cause__
    else:
        assert isinstance(error, raw), error


@dataclass
class Events:
    """What the SDK yielded for one stream, and the error that ended it."""

    events: list[Any] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    @property
    def text(self) -> str:
        return "".join(
            e.delta.text
            for e in self.events
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )


class Client:
    """The anthropic SDK, sync or async, pointed at the fault server."""

    def __init__(self, kind: str, server: FaultServer) -> None:
        options: dict[str, Any] = {
            "base_url": server.anthropic_base_url,
            "api_key": "test",
            "max_retries": 0,
        }
        self.sync = anthropic.Anthropic(**options) if kind == "sync" else None
        self.async_ = anthropic.AsyncAnthropic(**options) if kind == "async" else None

    async def create(self, **kwargs: Any) -> anthropic.types.Message:
        kwargs = {"model": "primary", "max_tokens": 1024, "messages": HI, **kwargs}
        if self.sync is not None:
            return self.sync.messages.create(**kwargs)
        assert self.async_ is not None
        return await self.async_.messages.create(**kwargs)

    async def stream(self, **kwargs: Any) -> Events:
        kwargs = {"model": "primary", "max_tokens": 1024, "messages": HI, **kwargs}
        seen = Events()
        try:
            if self.sync is not None:
                for event in self.sync.messages.create(stream=True, **kwargs):
                    seen.events.append(event)
            else:
                assert self.async_ is not None
                async for event in await self.async_.messages.create(stream=True, **kwargs):
                    seen.events.append(event)
        except Exception as exc:
            seen.error = exc
        return seen

    async def close(self) -> None:
        if self.sync is not None:
            self.sync.close()
        if self.async_ is not None:
            await self.async_.close()


@pytest.fixture(params=["sync", "async"])
async def client(
    request: pytest.FixtureRequest, fault_server: FaultServer
) -> AsyncIterator[Client]:
    """The anthropic client, sync then async."""
    made = Client(request.param, fault_server)
    yield made
    await made.close()


async def test_a_message_is_the_canonical_answer_with_usage(client: Client) -> None:
    """A non-streamed message carries the answer, `end_turn` and token usage."""
    message = await client.create()
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == PRIMARY_ANSWER
    assert (message.role, message.model, message.stop_reason) == (
        "assistant",
        "primary",
        "end_turn",
    )
    assert message.usage.input_tokens == 4
    assert message.usage.output_tokens == len(PRIMARY_ANSWER.split())


async def test_a_stream_is_the_apis_event_sequence(client: Client) -> None:
    """message_start, content_block_start, ping, a delta per token, block stop, delta, stop."""
    seen = await client.stream()
    tokens = len(PRIMARY_ANSWER.split())
    assert seen.error is None
    assert seen.types == [
        "message_start",
        "content_block_start",
        *(["content_block_delta"] * tokens),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK swallows `ping`, as it does from the API
    assert seen.text == PRIMARY_ANSWER
    start, closing = seen.events[0], seen.events[-2]
    assert start.message.usage.input_tokens == 4
    assert start.message.stop_reason is None
    assert (closing.delta.stop_reason, closing.usage.output_tokens) == ("end_turn", tokens)


async def test_max_tokens_and_stop_sequences_give_their_stop_reasons(client: Client) -> None:
    """A cut by max_tokens stops with `max_tokens`; a stop sequence with `stop_sequence`."""
    short = await client.create(max_tokens=3)
    stopped = await client.create(stop_sequences=["lazy"])
    assert (short.stop_reason, short.content[0].text) == ("max_tokens", "The quick brown")
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "lazy")
    # Exactly the text before the stop sequence, the space before "lazy" included.
    assert stopped.content[0].text == PRIMARY_ANSWER[: PRIMARY_ANSWER.index("lazy")]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_offered_tools_are_called_with_tool_use_blocks(client: Client, stream: bool) -> None:
    """tool_choice "any" makes a tool_use block (input_json_delta when streamed), `tool_use`."""
    kwargs = {
        "tools": [WEATHER],
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": "Weather in 'Oslo'?"}],
    }
    if not stream:
        message = await client.create(**kwargs)
        block, reason = message.content[0], message.stop_reason
        assert (block.type, block.name, block.input) == (
            "tool_use",
            "get_weather",
            {"city": "Oslo"},
        )
    else:
        seen = await client.stream(**kwargs)
        assert seen.events[1].content_block.type == "tool_use"
        deltas = [e.delta for e in seen.events if e.type == "content_block_delta"]
        assert {d.type for d in deltas} == {"input_json_delta"}
        assert "".join(d.partial_json for d in deltas) == '{"city": "Oslo"}'
        reason = seen.events[-2].delta.stop_reason
    assert reason == "tool_use"


async def test_a_tool_result_turn_is_answered(client: Client) -> None:
    """After the tool's result (a user message of tool_result blocks) the model answers."""
    messages = [
        {"role": "user", "content": "Weather in 'Oslo'?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
        },
    ]
    message = await client.create(
        model="primary", tools=[WEATHER], tool_choice={"type": "any"}, messages=messages
    )
    assert (message.stop_reason, message.content[0].type) == ("end_turn", "text")


async def test_a_prefill_is_continued_and_trailing_whitespace_refused(client: Client) -> None:
    """A final assistant message is continued; one ending in whitespace is the API's 400."""
    given = PRIMARY_ANSWER[:19]  # "The quick brown fox"
    rest = await client.create(messages=[*HI, {"role": "assistant", "content": given}])
    assert rest.content[0].text == PRIMARY_ANSWER[19:]
    with pytest.raises(anthropic.BadRequestError) as refused:
        await client.create(messages=[*HI, {"role": "assistant", "content": given + " "}])
    assert refused.value.api_message == (
        "messages: final assistant content cannot end with trailing whitespace"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"model": "primary", "messages": HI},
        {"model": "primary", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
    ],
    ids=["no-max-tokens", "system-role"],
)
def test_requests_the_api_refuses_are_refused_alike(fault_server: FaultServer, body: Any) -> None:
    """A missing max_tokens or a system role in messages is a 400 invalid_request_error."""
    response = httpx2.post(f"{fault_server.anthropic_base_url}/v1/messages", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["request-id"] == response.json()["request_id"]


REFUSALS = [
    (
        Fault.rate_limit(retry_after=2),
        anthropic.RateLimitError,
        "rate_limit_error",
        Category.RATE_LIMIT,
    ),
    (Fault.server_error(529), anthropic.OverloadedError, "overloaded_error", Category.SERVER),
    (Fault.server_error(500), anthropic.InternalServerError, "api_error", Category.SERVER),
    (
        Fault.context_length_exceeded(),
        anthropic.BadRequestError,
        "invalid_request_error",
        Category.CONTEXT_LENGTH,
    ),
    (
        Fault.content_policy(),
        anthropic.BadRequestError,
        "invalid_request_error",
        Category.BAD_REQUEST,
    ),
]


@pytest.mark.parametrize(
    ("fault", "raised", "kind", "category"), REFUSALS, ids=lambda v: getattr(v, "name", None)
)
async def test_refusing_faults_raise_the_sdks_own_errors(
    client: Client,
    fault_server: FaultServer,
    fault: Fault,
    raised: type[Exception],
    kind: str,
    category: Category,
) -> None:
    """Each refusal is the SDK's exception for it, with the API's body, request id and headers."""
    fault_server.set_fault("primary", fault)
    with pytest.raises(raised) as caught:
        await client.create()
    error = caught.value
    assert isinstance(error, anthropic.APIStatusError)
    assert error.type == kind
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert classify_error(error).category is category
    if fault.name == "rate_limit":
        assert error.response.headers["retry-after"] == "2"
        assert classify_error(error).retry_after == 2.0


async def test_a_midstream_overload_after_200_is_the_sdks_status_error(
    client: Client, fault_server: FaultServer
) -> None:
    """`event: error` after three tokens: the SDK raises APIStatusError(200), an overload."""
    fault_server.set_fault("primary", Fault.error_event(3))
    seen = await client.stream()
    assert seen.text == " ".join(PRIMARY_ANSWER.split()[:3])
    assert type(seen.error) is anthropic.APIStatusError
    assert seen.error.status_code == 200
    assert seen.error.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert classify_error(seen.error).category is Category.SERVER
    assert fault_server.attempts("primary")[0].outcome == "error_event"


async def test_an_error_event_fault_on_a_whole_message_is_its_status(
    client: Client, fault_server: FaultServer
) -> None:
    """Without a stream to break, `error_event` answers with its status (529 overloaded)."""
    fault_server.set_fault("primary", Fault.error_event(3))
    with pytest.raises(anthropic.OverloadedError):
        await client.create()


async def test_a_cut_stream_raises_httpx2s_protocol_error(
    client: Client, fault_server: FaultServer
) -> None:
    """A dropped stream: httpx2's RemoteProtocolError (from 2.17 inside the SDK's
    APIConnectionError), a connection error."""
    fault_server.set_fault("primary", Fault.cut_after(4))
    seen = await client.stream()
    assert_body_error(seen.error, httpx2.RemoteProtocolError, anthropic.APIConnectionError)
    assert classify_error(seen.error).category is Category.CONNECTION
    assert seen.types[-1] == "content_block_delta"
    assert seen.events[0].message.usage.input_tokens == 4, "usage came before the cut"


async def test_a_garbled_event_is_the_sdks_json_error(
    client: Client, fault_server: FaultServer
) -> None:
    """A `content_block_delta` event whose data is not JSON fails the SDK's parse."""
    fault_server.set_fault("primary", Fault.malformed_chunk(2))
    seen = await client.stream()
    assert classify_error(seen.error or Exception()).category is Category.MALFORMED


async def test_missing_message_stop_still_carries_the_stop_reason(
    client: Client, fault_server: FaultServer
) -> None:
    """`missing_done` leaves out `message_stop`; the message_delta with the stop reason came."""
    fault_server.set_fault("primary", Fault.missing_done())
    seen = await client.stream()
    assert seen.error is None
    assert seen.types[-1] == "message_delta"
    assert seen.events[-1].delta.stop_reason == "end_turn"


async def test_a_stall_is_the_sdks_timeout(client: Client, fault_server: FaultServer) -> None:
    """A stream gone silent past the client's read timeout: httpx2's ReadTimeout (from 2.17
    inside the SDK's APITimeoutError), a timeout."""
    fault_server.set_fault("primary", Fault.stall_after(2))
    seen = await client.stream(timeout=0.3)
    assert_body_error(seen.error, httpx2.ReadTimeout, anthropic.APITimeoutError)
    assert classify_error(seen.error).category is Category.TIMEOUT


async def test_a_reset_is_the_sdks_connection_error(
    client: Client, fault_server: FaultServer
) -> None:
    """A reset before any byte: the SDK wraps it as APIConnectionError."""
    fault_server.set_fault("primary", Fault.reset_before_headers())
    with pytest.raises(anthropic.APIConnectionError) as caught:
        await client.create()
    assert classify_error(caught.value).category is Category.CONNECTION


async def test_the_x_fault_header_works_on_the_messages_api(
    client: Client, fault_server: FaultServer
) -> None:
    """A per-request X-Fault header strikes on Anthropic requests too."""
    with pytest.raises(anthropic.RateLimitError):
        await client.create(extra_headers={"X-Fault": "rate_limit=retry_after=1"})
    assert fault_server.attempts("primary")[0].fault == "rate_limit"


def test_proxy_mode_refuses_the_messages_api() -> None:
    """A proxying server relays OpenAI only: a Messages request is refused, saying so."""
    with FaultServer(upstream="http://127.0.0.1:9/v1") as proxy:
        sdk = anthropic.Anthropic(base_url=proxy.anthropic_base_url, api_key="t", max_retries=0)
        with pytest.raises(anthropic.BadRequestError) as caught:
            sdk.messages.create(model="m", max_tokens=5, messages=HI)
    assert "OpenAI chat-completions API only" in str(caught.value.api_message)
