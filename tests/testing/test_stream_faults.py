"""Faults that break a response mid-way, as the openai client (and the wire) sees them."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from fallback_core.testing import Fault, FaultServer
from fallback_core.testing._answers import tokenise

from .conftest import HELLO, PRIMARY_ANSWER, Driver


def raw_stream(server: FaultServer, model: str = "primary", **headers: str) -> list[bytes]:
    """The SSE event lines of a streamed request, read with plain httpx."""
    body = {"model": model, "messages": HELLO, "stream": True}
    url = f"{server.base_url}/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers) as response:
        return [line.encode() for line in response.iter_lines() if line]


async def test_slow_first_token_outlasts_a_short_read_timeout_then_completes(
    drive: Driver, fault_server: FaultServer
) -> None:
    """Headers come at once but the first token waits; a patient client gets the whole answer."""
    fault_server.set_fault("primary", Fault.slow_first_token(0.4))

    impatient = await drive.stream(model="primary", timeout=0.1)
    patient = await drive.stream(model="primary")

    # The headers arrived, so the openai client returned a stream; the read timeout
    # strikes while iterating and surfaces as the bare httpx.ReadTimeout.
    assert isinstance(impatient.error, httpx.ReadTimeout)
    assert impatient.chunks == []
    assert patient.error is None
    assert patient.text == PRIMARY_ANSWER


async def test_cut_after_ends_the_stream_without_finish_reason(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A stream cut after n tokens delivers exactly those tokens and never finishes."""
    fault_server.set_fault("primary", Fault.cut_after(5))

    seen = await drive.stream(model="primary")

    # The openai stream does not end quietly: the chunked body is incomplete, so
    # iterating raises the bare httpx.RemoteProtocolError (not an openai error).
    assert isinstance(seen.error, httpx.RemoteProtocolError)
    assert seen.text == "".join(tokenise(PRIMARY_ANSWER)[:5])
    assert seen.finish_reason is None
    record = fault_server.attempts("primary")[0]
    assert (record.outcome, record.tokens_sent, record.status) == ("cut", 5, 200)


async def test_cut_after_without_streaming_breaks_the_body(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A non-streaming response cut mid-body reaches the client as APIConnectionError."""
    fault_server.set_fault("primary", Fault.cut_after(5))

    with pytest.raises(openai.APIConnectionError):
        await drive.create(model="primary")


async def test_stall_after_goes_silent_until_the_client_gives_up(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A stream stalled for good after n tokens ends in the client's read timeout."""
    fault_server.set_fault("primary", Fault.stall_after(3))

    seen = await drive.stream(model="primary", timeout=0.3)

    assert isinstance(seen.error, httpx.ReadTimeout)
    assert seen.text == "".join(tokenise(PRIMARY_ANSWER)[:3])


async def test_stall_after_with_seconds_resumes_and_completes(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A timed stall pauses the stream, which then finishes normally."""
    fault_server.set_fault("primary", Fault.stall_after(3, 0.2))

    seen = await drive.stream(model="primary")

    assert seen.error is None
    assert seen.text == PRIMARY_ANSWER
    assert seen.finish_reason == "stop"


async def test_malformed_chunk_breaks_the_clients_parser(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A non-JSON event after n tokens makes the openai stream raise a JSON decode error."""
    fault_server.set_fault("primary", Fault.malformed_chunk(after=2))

    seen = await drive.stream(model="primary")

    assert isinstance(seen.error, json.JSONDecodeError)
    assert seen.text == "".join(tokenise(PRIMARY_ANSWER)[:2])


def test_malformed_chunk_is_followed_by_the_rest_of_the_stream(fault_server: FaultServer) -> None:
    """On the wire the broken event sits between good ones and the stream still ends with [DONE]."""
    fault_server.set_fault("primary", Fault.malformed_chunk(after=2))

    lines = raw_stream(fault_server)

    assert lines[2] == b"data: {not json"
    assert lines[-1] == b"data: [DONE]"
    assert len(lines) == len(tokenise(PRIMARY_ANSWER)) + 3


async def test_missing_done_still_looks_finished_to_the_openai_client(
    drive: Driver, fault_server: FaultServer
) -> None:
    """Without [DONE] the openai stream ends quietly, finish_reason and all."""
    fault_server.set_fault("primary", Fault.missing_done())

    seen = await drive.stream(model="primary")

    assert seen.error is None
    assert seen.text == PRIMARY_ANSWER
    assert seen.finish_reason == "stop"


def test_missing_done_leaves_out_only_the_done_event(fault_server: FaultServer) -> None:
    """On the wire the stream has its finish chunk and no [DONE]."""
    fault_server.set_fault("primary", Fault.missing_done())

    lines = raw_stream(fault_server)

    assert b"[DONE]" not in lines[-1]
    assert json.loads(lines[-1][len(b"data: ") :])["choices"][0]["finish_reason"] == "stop"


async def test_cut_after_past_the_end_drops_only_the_finish(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A cut after more tokens than the answer has sends every token but never finishes."""
    fault_server.set_fault("primary", Fault.cut_after(1000))

    seen = await drive.stream(model="primary")

    assert isinstance(seen.error, httpx.RemoteProtocolError)
    assert seen.text == PRIMARY_ANSWER
    assert seen.finish_reason is None


async def test_malformed_body_without_streaming_breaks_the_clients_parser(
    drive: Driver, fault_server: FaultServer
) -> None:
    """A non-streaming malformed_chunk is a 200 whose body is not JSON."""
    fault_server.set_fault("primary", Fault.malformed_chunk(after=2))

    with pytest.raises(json.JSONDecodeError):
        await drive.create(model="primary")


async def test_delay_faults_without_streaming_only_delay_the_answer(
    drive: Driver, fault_server: FaultServer
) -> None:
    """Without streaming, a slow first token or a timed stall holds the whole body back."""
    fault_server.set_fault(
        "primary", Fault.sequence(Fault.slow_first_token(0.05), Fault.stall_after(2, 0.05))
    )

    slow = await drive.create(model="primary")
    stalled = await drive.create(model="primary")

    assert slow.choices[0].message.content == PRIMARY_ANSWER
    assert stalled.choices[0].message.content == PRIMARY_ANSWER
    assert [a.fault for a in fault_server.attempts()] == ["slow_first_token", "stall_after"]


def test_token_delay_paces_the_stream_without_changing_it() -> None:
    """A server with a token delay streams the same chunks, just spaced out."""
    with FaultServer(token_delay=0.01) as server:
        lines = raw_stream(server, "paced")

    assert len(lines) == len(tokenise(server.answer_for("paced"))) + 2


def test_client_leaving_a_stalled_stream_is_logged_as_gone(fault_server: FaultServer) -> None:
    """When the client hangs up on a stalled stream, its attempt ends as `client_gone`."""
    fault_server.set_fault("primary", Fault.stall_after(1))
    body = {"model": "primary", "messages": HELLO, "stream": True}

    with (
        httpx.Client() as client,
        client.stream("POST", f"{fault_server.base_url}/chat/completions", json=body) as reply,
    ):
        next(reply.iter_lines())
    deadline = time.monotonic() + 5
    while fault_server.attempts()[0].outcome == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.01)

    assert fault_server.attempts()[0].outcome == "client_gone"
