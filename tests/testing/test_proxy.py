"""Proxy mode: one fault server in front of another, faults applied to the relayed answers.

The upstream here is a plain `FaultServer` with canonical answers (the
`fault_server` fixture), so the proxy is tested offline, with no model: a
fault chosen per request with `X-Fault` must look the same to the client -
and in the attempts log - whether it strikes the upstream's own answer or the
proxy's relay of it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from fallback_core.testing import AttemptRecord, Fault, FaultServer, ModelScript
from fallback_core.testing._answers import tokenise
from fallback_core.testing._proxy import SseReader, relayed_event

from .conftest import HELLO, PRIMARY_ANSWER, WEATHER_TOOL, Driver


@pytest.fixture
def proxy(fault_server: FaultServer) -> Iterator[FaultServer]:
    """A fault server forwarding to `fault_server`; its "alias" is the upstream's "primary"."""
    with FaultServer(
        upstream=fault_server.base_url, upstream_models={"alias": "primary"}
    ) as server:
        yield server


@pytest.fixture(params=["sync", "async"])
async def clients(
    request: pytest.FixtureRequest, fault_server: FaultServer, proxy: FaultServer
) -> AsyncIterator[tuple[Driver, Driver]]:
    """The openai client pointed at the upstream directly, and at the proxy in front of it."""
    direct, relayed = (
        Driver(request.param, fault_server.base_url),
        Driver(request.param, proxy.base_url),
    )
    yield direct, relayed
    await direct.aclose()
    await relayed.aclose()


async def observe(driver: Driver, fault: str, *, stream: bool, **kwargs: Any) -> tuple[Any, ...]:
    """What a client sees of one call with `fault`: text, finish reason, error type and status."""
    kwargs.setdefault("model", "primary")
    kwargs.setdefault("timeout", 2.0)
    headers = {"X-Fault": fault} if fault else {}
    if stream:
        try:
            seen = await driver.stream(extra_headers=headers, **kwargs)
        except openai.OpenAIError as exc:  # refused before the stream started
            return None, None, None, _error(exc)
        error = seen.error
        calls = [
            (call.function.name if call.function else None)
            for chunk in seen.chunks
            if chunk.choices
            for call in chunk.choices[0].delta.tool_calls or ()
        ]
        return seen.text, seen.finish_reason, calls, _error(error)
    try:
        completion = await driver.create(extra_headers=headers, **kwargs)
    except Exception as exc:  # a malformed body surfaces as json's own error
        return None, None, None, _error(exc)
    choice = completion.choices[0]
    names = [call.function.name for call in choice.message.tool_calls or ()]  # type: ignore[union-attr]
    return choice.message.content, choice.finish_reason, names, None


def _error(exc: BaseException | None) -> tuple[str, int | None] | None:
    if exc is None:
        return None
    return type(exc).__name__, getattr(exc, "status_code", None)


def settled(server: FaultServer, model: str, index: int = -1) -> AttemptRecord:
    """An attempt at `model` once it has finished (a client timeout may land first)."""
    deadline = time.monotonic() + 5
    while server.attempts(model)[index].outcome == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.attempts(model)[index]


def essentials(record: AttemptRecord) -> tuple[Any, ...]:
    """The parts of an attempt record that do not depend on who wrote the answer."""
    return (
        record.fault,
        record.status,
        record.outcome,
        record.streamed,
        record.tokens_sent,
        record.text_sent,
    )


FAULTS = [
    "",
    "cut_after=0",
    "cut_after=3",
    f"cut_after={len(tokenise(PRIMARY_ANSWER))}",
    "cut_after=100",
    "stall_after=2,0.2",
    "malformed_chunk=2",
    "missing_done",
    "slow_first_token=0.2",
    "rate_limit=retry_after=1",
    "server_error=503",
    "reset_before_headers",
    "no_response",
    "context_length_exceeded",
    "content_policy",
]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("fault", FAULTS, ids=lambda spec: spec or "healthy")
async def test_fault_strikes_a_relayed_answer_as_it_strikes_a_scripted_one(
    clients: tuple[Driver, Driver],
    fault_server: FaultServer,
    proxy: FaultServer,
    fault: str,
    stream: bool,
) -> None:
    """Every fault gives the client - and the attempts log - the same result through the proxy."""
    direct, relayed = clients
    timeout = 0.5 if fault == "no_response" else 2.0

    expected = await observe(direct, fault, stream=stream, timeout=timeout)
    seen = await observe(relayed, fault, stream=stream, timeout=timeout)

    assert seen == expected
    relayed_record, direct_record = settled(proxy, "primary"), settled(fault_server, "primary", 0)
    if stream and fault.startswith("malformed_chunk"):
        # The client gives up at the garbage; how much the server sent by then is a race.
        assert relayed_record.fault == direct_record.fault == "malformed_chunk"
    else:
        assert essentials(relayed_record) == essentials(direct_record)


@pytest.mark.parametrize("fault", ["", "cut_after=2", "cut_after=4"], ids=lambda s: s or "healthy")
async def test_relayed_tool_call_counts_its_fragments_as_tokens(
    clients: tuple[Driver, Driver], fault_server: FaultServer, proxy: FaultServer, fault: str
) -> None:
    """A streamed tool call is relayed fragment by fragment and cut at the same fragment."""
    direct, relayed = clients
    call = {"model": "tooler", "tools": [WEATHER_TOOL], "stream": True}

    expected = await observe(direct, fault, **call)
    seen = await observe(relayed, fault, **call)

    assert seen == expected
    assert essentials(settled(proxy, "tooler")) == essentials(settled(fault_server, "tooler", 0))


async def test_model_names_are_mapped_upstream_and_back(
    clients: tuple[Driver, Driver], fault_server: FaultServer
) -> None:
    """The proxy's "alias" is forwarded as the upstream's "primary"; answers name "alias"."""
    _, relayed = clients

    streamed = await relayed.stream(model="alias")
    whole = await relayed.create(model="alias")

    assert streamed.text == whole.choices[0].message.content == PRIMARY_ANSWER
    assert {chunk.model for chunk in streamed.chunks} == {whole.model} == {"alias"}
    assert [r.model for r in fault_server.attempts()] == ["primary", "primary"]


async def test_faults_before_an_answer_never_reach_the_upstream(
    clients: tuple[Driver, Driver], fault_server: FaultServer, proxy: FaultServer
) -> None:
    """A model fault that refuses or resets strikes in the proxy; the upstream sees the rest."""
    _, relayed = clients
    proxy.set_fault("primary", Fault.sequence(Fault.rate_limit(), Fault.reset_before_headers()))

    with pytest.raises(openai.RateLimitError):
        await relayed.create(model="primary")
    with pytest.raises(openai.APIConnectionError):
        await relayed.create(model="primary")
    answer = await relayed.create(model="primary")

    assert answer.choices[0].message.content == PRIMARY_ANSWER
    assert [r.outcome for r in proxy.attempts()] == ["error_response", "reset", "completed"]
    assert [(r.fault, r.outcome) for r in fault_server.attempts()] == [(None, "completed")]


async def test_upstream_errors_are_passed_on_with_their_retry_after(
    clients: tuple[Driver, Driver], fault_server: FaultServer, proxy: FaultServer
) -> None:
    """An upstream 429 reaches the client as it was sent, Retry-After included."""
    _, relayed = clients
    fault_server.set_fault("primary", Fault.rate_limit(retry_after=3))

    with pytest.raises(openai.RateLimitError) as caught:
        await relayed.create(model="primary")

    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "rate_limit_exceeded"
    record = proxy.attempts("primary")[0]
    assert (record.fault, record.status, record.outcome) == (None, 429, "error_response")


async def test_an_upstream_stream_that_breaks_off_breaks_the_client_stream(
    clients: tuple[Driver, Driver], fault_server: FaultServer, proxy: FaultServer
) -> None:
    """An upstream cut mid-stream closes the client's stream after the same tokens."""
    _, relayed = clients
    fault_server.set_fault("primary", Fault.cut_after(3))

    seen = await relayed.stream(model="primary")

    assert isinstance(seen.error, httpx.RemoteProtocolError)
    assert seen.text == "".join(tokenise(PRIMARY_ANSWER)[:3])
    record = settled(proxy, "primary")
    assert (record.outcome, record.tokens_sent) == ("upstream_error", 3)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_upstream_is_a_bad_gateway() -> None:
    """With nothing listening upstream, the client gets a 502 it can fall back on."""
    with FaultServer(upstream=f"http://127.0.0.1:{_closed_port()}/v1") as proxy:
        response = httpx.post(
            f"{proxy.base_url}/chat/completions", json={"model": "m", "messages": HELLO}
        )

    assert response.status_code == 502
    assert response.json()["error"]["type"] == "server_error"
    assert proxy.attempts()[0].outcome == "error_response"


def test_a_client_leaving_mid_stream_closes_the_upstream_connection() -> None:
    """When the client gives up on a relayed stream, the upstream sees its client go too."""
    slow = {"primary": ModelScript(" ".join(["word"] * 200))}
    with (
        FaultServer(slow, token_delay=0.01) as upstream,
        FaultServer(upstream=upstream.base_url, faults={"primary": Fault.stall_after(2)}) as proxy,
    ):
        client = openai.OpenAI(base_url=proxy.base_url, api_key="test", max_retries=0)
        chunks = client.chat.completions.create(
            model="primary", messages=HELLO, stream=True, timeout=0.3
        )
        with pytest.raises(httpx.ReadTimeout), chunks:
            for _ in chunks:
                pass
        client.close()

        assert settled(proxy, "primary").outcome == "client_gone"
        assert settled(upstream, "primary").outcome == "client_gone"


async def test_a_prefill_is_marked_as_a_continuation(
    clients: tuple[Driver, Driver], proxy: FaultServer
) -> None:
    """In proxy mode the attempts log marks a request ending with the assistant's text."""
    _, relayed = clients
    prefill = [*HELLO, {"role": "assistant", "content": "The quick brown"}]

    answer = await relayed.create(model="primary", messages=prefill)

    assert answer.choices[0].message.content == PRIMARY_ANSWER.removeprefix("The quick brown")
    assert [r.continuation for r in proxy.attempts()] == [True]


def test_models_listing_names_the_mapped_models(proxy: FaultServer) -> None:
    """`/v1/models` of a proxy lists the names it maps."""
    listing = httpx.get(f"{proxy.base_url}/models").json()

    assert [model["id"] for model in listing["data"]] == ["alias"]
    assert proxy.upstream is not None


def test_upstream_models_without_an_upstream_are_refused() -> None:
    """A name mapping with nowhere to forward to is a mistake, refused at construction."""
    with pytest.raises(ValueError, match="needs an upstream"):
        FaultServer(upstream_models={"a": "b"})
    with pytest.raises(ValueError, match="http"):
        FaultServer(upstream="ftp://example.invalid/v1")


def test_sse_reader_splits_events_however_the_bytes_arrive() -> None:
    """CRLF and LF events, comments, multi-line data and bytes split anywhere all read right."""
    wire = (
        b': ping\r\n\r\ndata: {"a": 1}\r\n\r\ndata: x\ndata: y\n\nevent: e\n\ndata: [DONE]\r\n\r\n'
    )
    whole = SseReader().feed(wire)
    bytewise = SseReader()
    pieces = [payload for i in range(len(wire)) for payload in bytewise.feed(wire[i : i + 1])]

    assert whole == pieces == [b'{"a": 1}', b"x\ny", b"[DONE]"]
    assert SseReader().feed(b"data: unfinished") == []


@pytest.mark.parametrize(
    ("payload", "kind", "text"),
    [
        (b'{"model": "up", "choices": [{"delta": {"role": "assistant"}}]}', "other", ""),
        (b'{"model": "up", "choices": [{"delta": {"content": "Hi"}}]}', "token", "Hi"),
        (b'{"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]}', "token", ""),
        (b'{"choices": [{"delta": {}, "finish_reason": "stop"}]}', "closing", ""),
        (b'{"choices": [{"delta": {"content": "."}, "finish_reason": "stop"}]}', "closing", "."),
        (b'{"choices": [], "usage": {"total_tokens": 3}}', "closing", ""),
        (b"[DONE]", "done", ""),
        (b"not json", "other", ""),
    ],
)
def test_relayed_events_are_told_apart(payload: bytes, kind: str, text: str) -> None:
    """Each upstream event is a token, a closing event, [DONE] or other; the model is renamed."""
    event = relayed_event(payload, "mine")

    assert (event.kind, event.text) == (kind, text)
    assert b'"up"' not in event.data
    assert event.data.endswith(b"\n\n")


def test_command_line_proxies_to_an_upstream(fault_server: FaultServer) -> None:
    """`serve --upstream URL --upstream-model a=b --fault a=...` runs a proxy with faults."""
    command = [
        *(sys.executable, "-m", "fallback_core.testing", "serve"),
        *("--upstream", fault_server.base_url, "--upstream-model", "alias=primary"),
        *("--fault", "alias=rate_limit:times=1", "--token-delay", "0"),
    ]
    body = {"model": "alias", "messages": HELLO}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip() + "/chat/completions"
        first, second = httpx.post(url, json=body), httpx.post(url, json=body)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)

    assert first.status_code == 429
    assert second.json()["choices"][0]["message"]["content"] == PRIMARY_ANSWER
    assert code == 0


def test_stopping_the_proxy_mid_relay_closes_both_sides(fault_server: FaultServer) -> None:
    """`stop()` while a relayed stream is stalled ends the client's and the upstream's stream."""
    fault_server.set_fault("primary", Fault.stall_after(2))
    proxy = FaultServer(upstream=fault_server.base_url).start()
    body = {"model": "primary", "messages": HELLO, "stream": True}
    url = f"{proxy.base_url}/chat/completions"
    with httpx.stream("POST", url, json=body, timeout=5) as response:
        lines = (line for line in response.iter_lines() if line)
        received = [next(lines), next(lines)]

        proxy.stop()

        with pytest.raises(httpx.TransportError):
            received.extend(lines)

    assert len(received) == 2
    assert proxy.attempts()[0].outcome == "server_stopped"
    assert settled(fault_server, "primary").outcome == "client_gone"
