"""The demo: a primary model dies mid-answer and the backup finishes it.

Runs on the embedded default - no API key, no network. The hops are scripted
targets standing in for real models.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from fallback_core import Chain, Continuation, Delta, Hop, HopEnded, HopStarted, Usage

ANSWER = (
    "A fallback chain tries its models in order. When one fails - an error, a rate limit, "
    "a stall, or a stream that dies halfway - the next one takes over, and a broken answer "
    "is continued rather than restarted, so nothing is lost and nothing repeated."
)


class DemoModel:
    """Streams ANSWER word by word; ``dies_after`` words in, its connection drops."""

    def __init__(self, name: str, dies_after: int | None = None) -> None:
        self.name = name
        self.dies_after = dies_after

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        start = len(continuation.text) if continuation else 0
        words = re.findall(r"\s*\S+", ANSWER[start:])
        for i, word in enumerate(words):
            if self.dies_after is not None and i == self.dies_after:
                raise ConnectionResetError("connection reset by peer")
            time.sleep(0.02)
            yield Delta(text=word)
        yield Delta(finish_reason="stop", usage=Usage(40, len(words), 40 + len(words)))

    async def astream(self, request: Any, continuation: Continuation | None) -> Any:
        raise NotImplementedError("the demo runs synchronously")


def main() -> None:
    timeline: list[str] = []

    def hook(event: object) -> None:
        if isinstance(event, HopStarted):
            carried = f", continuing {event.chars_carried} chars" if event.continuation else ""
            timeline.append(f"  -> {event.hop} ({event.model}) started{carried}")
        elif isinstance(event, HopEnded):
            why = f" [{event.category.value}]" if event.category else ""
            timeline.append(
                f"  <- {event.hop}: {event.outcome}{why} after {event.latency * 1000:.0f} ms, "
                f"{event.chars} chars streamed"
            )

    chain: Chain[str] = Chain(
        [
            Hop(DemoModel("primary", dies_after=12), name="primary", model="big-model"),
            Hop(DemoModel("backup"), name="backup", model="small-model"),
        ],
        hooks=[hook],
    )
    print("Streaming while the primary dies mid-answer:\n")
    stream = chain.stream("Explain fallback chains.")
    for delta in stream:
        print(delta.text, end="", flush=True)
    print("\n\nHops:")
    print("\n".join(timeline))
    trace = stream.trace
    print(f"\nServed by {trace.served_by} ({trace.served_model}); usage {trace.usage}")
    assert stream.text == ANSWER, "the demo's answer must arrive whole"


if __name__ == "__main__":
    main()
