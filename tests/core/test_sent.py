"""``first_token_timeout`` counts from the moment a request is sent, where the client says so.

`watch_requests` hooks an httpx (or httpx2) client, or the openai / anthropic
SDK client holding one; the hook reports `request_sent` for requests made
during a chain's attempt, once their body is written - after the client got a
connection from its pool.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from fallback_core import (
    Chain,
    ChainExhaustedError,
    Continuation,
    Delta,
    Hop,
    StreamTimeoutError,
    request_queued,
    request_sent,
    watch_requests,
)
from fallback_core._sent import mark_requests, unmark_requests
from fallback_core.testing import FaultServer, ModelScript

from .conftest import Drive
from .openai_target import to_delta
from .scripted import apause, pause

ANSWER = "Queued requests are not late requests: the limit starts when the request goes out."


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer({"primary": ModelScript(ANSWER)}, token_delay=0.02) as running:
        yield running


class Recorded:
    """Reports that only record what the client said."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def queued(self) -> None:
        self.calls.append("queued")

    def sent(self) -> None:
        self.calls.append("sent")


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_a_watched_sync_client_reports_each_request_sent_in_an_attempt(
    module: Any, server: FaultServer
) -> None:
    """Inside an attempt the hook reports the request queued, then sent; outside it, nothing."""
    reports = Recorded()
    with module.Client() as client:
        assert watch_requests(client)
        assert watch_requests(client), "watching twice is harmless"
        client.get(f"{server.base_url}/models")
        assert reports.calls == [], "outside an attempt the hook does nothing"
        token = mark_requests(reports)
        try:
            client.get(f"{server.base_url}/models")
        finally:
            unmark_requests(token)
        assert len(client.event_hooks["request"]) == 1
    assert reports.calls == ["queued", "sent"]


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_a_watched_async_client_reports_each_request_sent_in_an_attempt(
    module: Any, server: FaultServer
) -> None:
    """The async hook reports the same way, on the task making the request."""
    reports = Recorded()

    async def main() -> None:
        async with module.AsyncClient() as client:
            assert watch_requests(client)
            await client.get(f"{server.base_url}/models")
            token = mark_requests(reports)
            try:
                await client.get(f"{server.base_url}/models")
            finally:
                unmark_requests(token)

    asyncio.run(main())
    assert reports.calls == ["queued", "sent"]


def test_sdk_clients_are_watched_through_the_http_client_they_send_with() -> None:
    """An openai or anthropic SDK client gets the hook on its own httpx client."""
    clients = [
        openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1"),
        openai.AsyncOpenAI(api_key="test", base_url="http://127.0.0.1:9/v1"),
        anthropic.Anthropic(api_key="test", base_url="http://127.0.0.1:9"),
        anthropic.AsyncAnthropic(api_key="test", base_url="http://127.0.0.1:9"),
    ]
    for client in clients:
        assert watch_requests(client), type(client).__name__
        hooks = client._client.event_hooks["request"]
        assert [h.__module__ for h in hooks] == ["fallback_core._sent"]
    assert not watch_requests(object()), "no httpx client, nothing to watch"


def test_a_trace_the_request_already_had_still_hears_every_event(server: FaultServer) -> None:
    """The hook wraps a request's own ``trace`` extension rather than replacing it."""
    reports, heard = Recorded(), []
    with httpx.Client() as client:
        watch_requests(client)
        token = mark_requests(reports)
        try:
            extensions = {"trace": lambda name, info: heard.append(name)}
            client.send(
                client.build_request("GET", f"{server.base_url}/models", extensions=extensions)
            )
        finally:
            unmark_requests(token)
    assert reports.calls == ["queued", "sent"]
    assert "http11.send_request_body.complete" in heard


def test_an_async_trace_the_request_already_had_still_hears_every_event(
    server: FaultServer,
) -> None:
    """The async hook wraps an existing async ``trace`` the same way."""
    reports, heard = Recorded(), []

    async def trace(name: str, info: dict[str, Any]) -> None:
        heard.append(name)

    async def main() -> None:
        async with httpx.AsyncClient() as client:
            watch_requests(client)
            token = mark_requests(reports)
            try:
                request = client.build_request(
                    "GET", f"{server.base_url}/models", extensions={"trace": trace}
                )
                await client.send(request)
            finally:
                unmark_requests(token)

    asyncio.run(main())
    assert reports.calls == ["queued", "sent"]
    assert "http11.send_request_body.complete" in heard


class SelfReporting:
    """A custom client that says when its request waits and when it leaves.

    It "queues" for ``queued_for`` seconds - longer than the hop's first-token
    limit - then reports the request sent and answers at once.
    """

    def __init__(self, queued_for: float) -> None:
        self.queued_for = queued_for

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        request_queued()
        yield from pause(self.queued_for)
        request_sent()
        yield Delta(text="sent late, answered at once")
        yield Delta(finish_reason="stop")

    async def astream(
        self, request: Any, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        request_queued()
        async for stall in apause(self.queued_for):
            yield stall
        request_sent()
        yield Delta(text="sent late, answered at once")
        yield Delta(finish_reason="stop")


def test_a_client_reporting_its_own_queueing_keeps_its_first_token_wait(drive: Drive) -> None:
    """``request_queued()`` holds the first-token wait; ``request_sent()`` starts it."""
    chain = Chain([Hop(SelfReporting(queued_for=0.8), name="p", first_token_timeout=0.5)])

    run = drive(chain)

    assert run.error is None
    assert run.text == "sent late, answered at once"


class ReportsSent:
    """A target whose client always reports its request, here only once it is sent, late."""

    reports_requests = True

    def __init__(self, sent_after: float) -> None:
        self.sent_after = sent_after

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        yield from pause(self.sent_after)  # e.g. the process busy with a thousand other calls
        request_sent()
        yield Delta(text="answered once sent")
        yield Delta(finish_reason="stop")

    async def astream(
        self, request: Any, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        async for stall in apause(self.sent_after):
            yield stall
        request_sent()
        yield Delta(text="answered once sent")
        yield Delta(finish_reason="stop")


def test_a_target_that_always_reports_is_timed_only_from_sending(drive: Drive) -> None:
    """``reports_requests = True``: nothing before the request leaves counts, queued or not."""
    chain = Chain([Hop(ReportsSent(sent_after=0.3), name="p", first_token_timeout=0.1)])

    run = drive(chain)

    assert run.error is None
    assert run.text == "answered once sent"


def test_a_target_that_does_not_say_it_reports_is_timed_from_its_start(drive: Drive) -> None:
    """Without the declaration the same late client misses its first-token limit."""
    target = ReportsSent(sent_after=0.3)
    target.reports_requests = False  # type: ignore[misc]
    chain = Chain([Hop(target, name="p", first_token_timeout=0.1)])

    run = drive(chain)

    assert isinstance(run.error, ChainExhaustedError)
    assert isinstance(run.error.attempts[0].error, StreamTimeoutError)


def test_reports_outside_an_attempt_do_nothing() -> None:
    """Called with no attempt in flight, the reports are ignored."""
    request_queued()
    request_sent()


class PooledTarget:
    """Streams from the fault server through openai clients sharing a one-connection pool."""

    def __init__(self, server: FaultServer, *, watched: bool) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.http = httpx.Client(limits=limits, timeout=30)
        self.client = openai.OpenAI(
            base_url=server.base_url, api_key="test", max_retries=0, http_client=self.http
        )
        if watched:
            watch_requests(self.client)

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        messages = [{"role": "user", "content": "Why?"}]
        with self.client.chat.completions.create(
            model="primary", messages=messages, stream=True
        ) as chunks:
            for chunk in chunks:
                yield to_delta(chunk)

    def astream(self, request: Any, continuation: Continuation | None) -> AsyncIterator[Delta]:
        raise NotImplementedError


def run_concurrently(chain: Chain[Any], streams: int) -> list[BaseException | str]:
    results: list[BaseException | str] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            text = "".join(d.text for d in chain.stream("request"))
        except Exception as exc:
            text = exc  # type: ignore[assignment]
        with lock:
            results.append(text)

    threads = [threading.Thread(target=one) for _ in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.parametrize("watched", [True, False], ids=["watched", "unwatched"])
def test_sync_streams_queued_for_a_connection_keep_their_first_token_wait(
    server: FaultServer, watched: bool
) -> None:
    """Six streams share one connection: watched, none times out waiting its turn.

    Each stream holds the connection about 0.3 s, so the last is sent some
    1.5 s after it started, three times its limit. Unwatched, its limit counts
    that queueing, and the later streams time out before being sent.
    """
    target = PooledTarget(server, watched=watched)
    list(target.stream(None, None))  # the SDK's first request pays a one-time set-up
    chain = Chain([Hop(target, name="primary", first_token_timeout=0.5, idle_timeout=5)])
    try:
        results = run_concurrently(chain, 6)
    finally:
        for reader in threading.enumerate():  # abandoned reads finish once they get their turn
            if reader.name == "fallback-chain-reader":
                reader.join(10)
        target.http.close()
    failures = [r for r in results if not isinstance(r, str)]
    if watched:
        assert failures == []
        assert results == [ANSWER] * 6
    else:
        assert failures, "the pool must really queue the streams beyond their limit"
        timeouts = [f.__cause__ for f in failures]
        assert all(isinstance(t, StreamTimeoutError) for t in timeouts)
