"""One chain serves many threads and tasks at once; no call sees another's state."""

from __future__ import annotations

import asyncio
import threading

from fallback_core import Chain, Continuation, Delta, Hop


class Echo:
    """Answers each request with its own text; fails the first half of requests mid-stream."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def stream(self, request: str, continuation: Continuation | None):  # type: ignore[no-untyped-def]
        if continuation is not None:
            yield Delta(text=request[len(continuation.text) :], finish_reason="stop")
            return
        yield Delta(text=request[:7])  # "request", cut on a word boundary
        if self.fail:
            raise ConnectionResetError()
        yield Delta(text=request[7:], finish_reason="stop")

    async def astream(self, request: str, continuation: Continuation | None):  # type: ignore[no-untyped-def]
        for delta in self.stream(request, continuation):
            await asyncio.sleep(0)
            yield delta


CHAIN = Chain([Hop(Echo(fail=True), name="flaky"), Hop(Echo(fail=False), name="steady")])


def test_threads_sharing_a_chain_each_get_their_own_answer() -> None:
    """Thirty-two threads walk the same chain; each answer and trace belongs to its caller."""
    results: dict[int, tuple[str, str | None, int]] = {}

    def call(i: int) -> None:
        stream = CHAIN.stream(f"request number {i}")
        text = "".join(d.text for d in stream)
        results[i] = (text, stream.trace.served_by, len(stream.trace.attempts))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: (f"request number {i}", "steady", 2) for i in range(32)}


def test_tasks_sharing_a_chain_each_get_their_own_answer() -> None:
    """A hundred concurrent tasks walk the same chain without crosstalk."""

    async def call(i: int) -> tuple[str, str | None]:
        stream = CHAIN.astream(f"request number {i}")
        text = "".join([d.text async for d in stream])
        return text, stream.trace.served_by

    async def main() -> list[tuple[str, str | None]]:
        return await asyncio.gather(*(call(i) for i in range(100)))

    assert asyncio.run(main()) == [(f"request number {i}", "steady") for i in range(100)]
