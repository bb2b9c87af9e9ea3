"""The streaming promises over real HTTP: real openai clients against the local fault server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from fallback_core import Category, Chain, Hop, Policy
from fallback_core.testing import Fault, FaultServer, ModelScript

from .conftest import Drive, _real_async, _real_sync
from .openai_target import OpenAITarget

ANSWER = (
    "Fallback chains keep answers whole. When the primary model stops halfway, "
    "the backup continues from the exact word where the text broke off, and the "
    "reader never sees a gap or a repeated phrase in the final answer."
)
REQUEST: dict[str, Any] = {"messages": [{"role": "user", "content": "Why fallback chains?"}]}


_targets: list[OpenAITarget] = []


def target(server: FaultServer, model: str, timeout: float = 10.0) -> OpenAITarget:
    """A target whose clients the `server` fixture closes after the test."""
    _targets.append(OpenAITarget(server.base_url, model, timeout=timeout))
    return _targets[-1]


@pytest.fixture(params=["sync", "async"])
def drive(request: pytest.FixtureRequest) -> Drive:
    """Real HTTP in real time: each driver with its real I/O (threads, ``asyncio.timeout``)."""
    return _real_sync if request.param == "sync" else _real_async


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """The fault server; after the test every client is closed and no connection may stay open."""
    models = {
        "primary": ModelScript(answer=ANSWER),
        "backup": ModelScript(answer=ANSWER, repeat_words=2),
        "sloppy": ModelScript(answer=ANSWER, drop_seam_space=True),
    }
    with FaultServer(models) as running:
        yield running
        for made in _targets:
            made.close()
        _targets.clear()
        deadline = time.monotonic() + 5
        while running.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.open_connections == 0, "a test left a connection open"


def chain(server: FaultServer, backup: str = "backup", **hop: Any) -> Chain[Any]:
    return Chain(
        [
            Hop(target(server, "primary"), name="primary", model="primary", **hop),
            Hop(target(server, backup), name=backup, model=backup),
        ],
        policy=Policy(backoff=lambda n: 0.0),
    )


def test_healthy_stream_is_served_by_the_primary(drive: Drive, server: FaultServer) -> None:
    """With no fault the primary's whole answer arrives, with usage, from one attempt."""
    run = drive(chain(server), REQUEST)
    assert run.text == ANSWER
    assert run.trace.served_by == "primary"
    assert run.trace.usage is not None
    assert run.trace.usage.output_tokens == len(ANSWER.split())
    assert server.attempt_count("backup") == 0


@pytest.mark.parametrize("backup", ["backup", "sloppy"])
def test_stream_cut_after_n_tokens_is_continued_exactly(
    drive: Drive, server: FaultServer, backup: str
) -> None:
    """A stream cut mid-answer is continued by the backup with nothing lost or repeated."""
    server.set_fault("primary", Fault.cut_after(7))
    run = drive(chain(server, backup), REQUEST)
    assert run.error is None
    assert run.text == ANSWER
    assert run.trace.attempts[0].category in (Category.TRUNCATED, Category.CONNECTION)
    assert server.attempts(backup)[0].continuation


def test_stall_mid_answer_is_abandoned_and_continued(drive: Drive, server: FaultServer) -> None:
    """A primary that stalls after a few tokens is abandoned at idle_timeout and continued.

    The sync driver cannot interrupt the blocked read; the client's own read
    timeout (1 s here) releases the connection, which the fixture then checks.
    """
    server.set_fault("primary", Fault.stall_after(5))
    built = Chain(
        [
            Hop(target(server, "primary", timeout=1.0), name="primary", idle_timeout=0.3),
            Hop(target(server, "backup"), name="backup"),
        ]
    )
    run = drive(built, REQUEST)
    assert run.text == ANSWER
    assert run.trace.attempts[0].category is Category.TIMEOUT


def test_async_stall_releases_the_connection(server: FaultServer) -> None:
    """The async driver closes an abandoned hop's connection at once; the server sees it go."""
    import asyncio

    server.set_fault("primary", Fault.stall_after(5))

    async def main() -> str:
        stream = chain(server, idle_timeout=0.3).astream(REQUEST)
        return "".join([d.text async for d in stream])

    assert asyncio.run(main()) == ANSWER
    deadline = time.monotonic() + 5
    while server.attempts("primary")[0].outcome == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.attempts("primary")[0].outcome == "client_gone"


def test_slow_first_token_moves_to_backup(drive: Drive, server: FaultServer) -> None:
    """A primary that sends headers but no token within first_token_timeout is skipped."""
    server.set_fault("primary", Fault.slow_first_token(3.0))
    run = drive(chain(server, first_token_timeout=0.3), REQUEST)
    assert run.text == ANSWER
    assert run.trace.served_by == "backup"
    assert not server.attempts("backup")[0].continuation


def test_prefill_refused_by_the_backup_is_retried_with_instruct(
    drive: Drive, server: FaultServer
) -> None:
    """A backup that rejects prefill gets the instruct continuation; the caller sees no error."""
    server.set_fault("primary", Fault.cut_after(6))
    server.set_fault("backup", Fault.reject_prefill())
    built = Chain(
        [
            Hop(target(server, "primary"), name="primary"),
            Hop(target(server, "backup"), name="backup", continuation="prefill"),
        ]
    )
    run = drive(built, REQUEST)
    assert run.error is None
    assert run.text == ANSWER
    assert [a.status for a in server.attempts("backup")] == [400, 200]
    assert [a.continuation for a in run.trace.attempts] == [None, "prefill", "instruct"]


def test_malformed_chunk_fails_over_without_garbage(drive: Drive, server: FaultServer) -> None:
    """A chunk openai cannot parse ends the primary's attempt; the backup finishes the answer."""
    server.set_fault("primary", Fault.malformed_chunk(after=4))
    run = drive(chain(server), REQUEST)
    assert run.text == ANSWER
    assert run.trace.attempts[0].category is Category.MALFORMED


def test_missing_done_with_finish_reason_is_complete(drive: Drive, server: FaultServer) -> None:
    """A stream with its finish reason but no [DONE] line is a complete answer."""
    server.set_fault("primary", Fault.missing_done())
    run = drive(chain(server), REQUEST)
    assert run.text == ANSWER
    assert run.trace.served_by == "primary"


def test_rate_limit_retry_after_is_honoured_on_the_same_hop(
    drive: Drive, server: FaultServer
) -> None:
    """A 429 with Retry-After is waited out on the same hop, then it serves."""
    server.set_fault("primary", Fault.rate_limit(retry_after=0.05, times=1))
    run = drive(chain(server), REQUEST)
    assert run.text == ANSWER
    assert [a.status for a in server.attempts("primary")] == [429, 200]
    started = [a.started_at for a in server.attempts("primary")]
    assert started[1] - started[0] >= 0.05


def test_reset_before_headers_moves_on(drive: Drive, server: FaultServer) -> None:
    """A connection reset before any response byte goes straight to the backup."""
    server.set_fault("primary", Fault.reset_before_headers())
    run = drive(chain(server), REQUEST)
    assert run.text == ANSWER
    assert server.attempt_count("primary") == 1
    assert run.trace.attempts[0].category is Category.CONNECTION


def test_a_paced_async_stream_longer_than_its_idle_limit_is_not_cut() -> None:
    """Chunks 30 ms apart under a 0.2 s idle limit: the whole answer, however long it runs.

    The async reads share one timer that rings for an earlier read and must
    wait on for the read in progress rather than end it.
    """
    import asyncio

    with FaultServer({"primary": ModelScript(answer=ANSWER)}, token_delay=0.03) as paced:
        made = OpenAITarget(paced.base_url, "primary")
        built = Chain([Hop(made, name="primary", idle_timeout=0.2, first_token_timeout=0.2)])

        async def main() -> tuple[str, float]:
            started = time.monotonic()
            stream = built.astream(REQUEST)
            text = "".join([d.text async for d in stream])
            return text, time.monotonic() - started

        try:
            text, took = asyncio.run(main())
        finally:
            made.close()
    assert text == ANSWER
    assert took > 0.2, "the answer outlasted a single idle limit"
    assert paced.attempt_count("primary") == 1


def test_cancelling_a_timed_async_read_is_the_callers_cancellation(server: FaultServer) -> None:
    """A task cancelled while it waits for a chunk is cancelled: not a timeout, no fallback."""
    import asyncio

    server.set_fault("primary", Fault.slow_first_token(3.0))

    async def main() -> None:
        async def consume() -> None:
            stream = chain(server, first_token_timeout=2.0).astream(REQUEST)
            async for _ in stream:
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert server.attempt_count("backup") == 0
