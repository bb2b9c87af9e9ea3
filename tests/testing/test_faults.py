"""Faults that refuse or drop a request, as the real openai client sees them."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import openai
import pytest

from fallback_core.testing import Fault, FaultServer

from .conftest import HELLO, PRIMARY_ANSWER, Driver


async def test_rate_limit_raises_rate_limit_error_with_retry_after(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A 429 reaches the client as RateLimitError, its Retry-After headers readable."""
    fault_server.set_fault("primary", Fault.rate_limit(retry_after=2.5, retry_after_ms=2500))

    with pytest.raises(openai.RateLimitError) as caught:
        await drive.create(model="primary")

    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "2.5"
    assert caught.value.response.headers["retry-after-ms"] == "2500"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
async def test_server_error_raises_internal_server_error(
    drive: Driver, fault_server: FaultServer, status: int
) -> None:
    """A scripted 5xx reaches the client as InternalServerError with that status."""
    fault_server.set_fault("primary", Fault.server_error(status))

    with pytest.raises(openai.InternalServerError) as caught:
        await drive.stream(model="primary")

    assert caught.value.status_code == status


async def test_fault_with_times_heals_after_that_many_attempts(
    drive: Driver, fault_server: FaultServer
) -> None:
    """`times=1` makes a fault strike once; the next attempt is answered normally."""
    fault_server.set_fault("primary", Fault.server_error(503, times=1))

    with pytest.raises(openai.InternalServerError):
        await drive.create(model="primary")
    completion = await drive.create(model="primary")

    assert completion.choices[0].message.content == PRIMARY_ANSWER


async def test_reset_before_headers_raises_connection_error(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A connection reset before any response byte reaches the client as APIConnectionError."""
    fault_server.set_fault("primary", Fault.reset_before_headers())

    with pytest.raises(openai.APIConnectionError):
        await drive.stream(model="primary")

    assert fault_server.attempts("primary")[0].outcome == "reset"


def test_reset_before_headers_is_a_real_tcp_reset(fault_server: FaultServer) -> None:
    """On the wire the reset is an RST (ECONNRESET), not an orderly close."""
    fault_server.set_fault("m", Fault.reset_before_headers())
    body = json.dumps({"model": "m", "messages": HELLO}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-length: {len(body)}\r\n\r\n"

    with socket.create_connection(("127.0.0.1", fault_server.port), timeout=5) as conn:
        conn.sendall(head.encode() + body)
        with pytest.raises(ConnectionResetError):
            conn.recv(100)


async def test_no_response_makes_the_client_time_out(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A server that never answers leaves the client to its own timeout."""
    fault_server.set_fault("primary", Fault.no_response())

    with pytest.raises(openai.APITimeoutError):
        await drive.create(model="primary", timeout=0.3)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.context_length_exceeded(), "context_length_exceeded"),
        (Fault.content_policy(), "content_policy_violation"),
    ],
)
async def test_refusal_faults_raise_bad_request_with_their_code(
    drive: Driver, fault_server: FaultServer, fault: Fault, code: str
) -> None:
    """Scripted 400 refusals reach the client as BadRequestError carrying OpenAI's code."""
    fault_server.set_fault("primary", fault)

    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(model="primary")

    assert caught.value.code == code
    assert caught.value.type == "invalid_request_error"


async def test_reject_prefill_refuses_only_requests_ending_with_the_assistant(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A model that rejects prefill answers ordinary requests but refuses assistant-last ones."""
    fault_server.set_fault("primary", Fault.reject_prefill())
    prefill = [*HELLO, {"role": "assistant", "content": "The quick"}]

    ordinary = await drive.create(model="primary")
    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(model="primary", messages=prefill)

    assert ordinary.choices[0].message.content == PRIMARY_ANSWER
    assert "prefill" in caught.value.message
    assert [a.fault for a in fault_server.attempts("primary")] == [None, "reject_prefill"]


async def test_flapping_model_fails_until_down_for_has_passed(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A flapping model fails with its status at first and answers once `down_for` is over."""
    fault_server.set_fault("primary", Fault.flapping(down_for=0.3, status=502))

    with pytest.raises(openai.InternalServerError) as caught:
        await drive.create(model="primary")
    await asyncio.sleep(0.35)
    healed = await drive.create(model="primary")

    assert caught.value.status_code == 502
    assert healed.choices[0].message.content == PRIMARY_ANSWER


async def test_sequence_applies_its_faults_in_order_then_heals(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A sequence strikes once per step (a step's `times` widens it), then the model is healthy."""
    fault_server.set_fault(
        "primary", Fault.sequence(Fault.rate_limit(times=2), Fault.server_error(503))
    )

    for expected in (openai.RateLimitError, openai.RateLimitError, openai.InternalServerError):
        with pytest.raises(expected):
            await drive.create(model="primary")
    healed = await drive.create(model="primary")

    assert healed.choices[0].message.content == PRIMARY_ANSWER
    assert [a.status for a in fault_server.attempts()] == [429, 429, 503, 200]


async def test_header_fault_overrides_the_model_fault_for_one_request(
    drive: Driver, fault_server: FaultServer
) -> None:
    """An X-Fault header picks the fault for its request only, ahead of the model's fault."""
    fault_server.set_fault("primary", Fault.rate_limit())

    seen = await drive.stream(model="primary", extra_headers={"X-Fault": "cut_after=2"})
    with pytest.raises(openai.InternalServerError) as caught:
        await drive.create(model="backup", extra_headers={"X-Fault": "server_error:504"})
    with pytest.raises(openai.RateLimitError):
        await drive.create(model="primary")

    assert isinstance(seen.error, httpx.RemoteProtocolError)
    assert seen.text == "The quick"
    assert caught.value.status_code == 504


async def test_bad_fault_header_is_refused_with_400(
    drive: Driver, fault_server: FaultServer
) -> None:
    """An X-Fault header the server cannot read is a 400 naming the header, not a silent no-op."""
    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(model="primary", extra_headers={"X-Fault": "explode=3"})

    assert caught.value.param == "x-fault"


async def test_clearing_a_fault_heals_the_model(drive: Driver, fault_server: FaultServer) -> None:
    """`set_fault(model, None)` removes the model's fault."""
    fault_server.set_fault("primary", Fault.server_error())
    fault_server.set_fault("primary", None)

    completion = await drive.create(model="primary")

    assert completion.choices[0].message.content == PRIMARY_ANSWER


@pytest.mark.parametrize("spec", ["flapping=1", "rate_limit+cut_after=2"])
async def test_faults_that_span_attempts_cannot_be_chosen_by_header(
    drive: Driver, spec: str
) -> None:
    """Flapping and sequences live across attempts, so a per-request header refuses them."""
    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(model="primary", extra_headers={"X-Fault": spec})

    assert "per request" in caught.value.message
