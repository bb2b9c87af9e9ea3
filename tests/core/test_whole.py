"""A call nobody reads before it is complete (``whole=True``): which hops give a whole reply.

A hop is asked for its whole reply (its target's ``reply``) only when nothing
needs its stream: no first-token or idle limit, no hedge. Otherwise it
streams as for any call. Failures, retries and fallbacks are the same either way.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fallback_core import Chain, Continuation, Delta, Hop, Policy

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, Stall, ok

NO_STALL_LIMITS: dict[str, Any] = {"first_token_timeout": None, "idle_timeout": None}


class Replying(Scripted):
    """A scripted target that also answers whole: each reply plays a script as one delta."""

    def __init__(self, *scripts: Any, name: str | None = None) -> None:
        super().__init__(*scripts, name=name)
        self.used: list[str] = []

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        self.used.append("stream")
        return super().stream(request, continuation)

    def astream(self, request: Any, continuation: Continuation | None) -> AsyncIterator[Delta]:
        self.used.append("stream")
        return super().astream(request, continuation)

    def reply(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        self.used.append("reply")
        return self._whole(super().stream(request, continuation))

    def areply(self, request: Any, continuation: Continuation | None) -> AsyncIterator[Delta]:
        self.used.append("reply")
        return self._awhole(super().astream(request, continuation))

    @staticmethod
    def _whole(stream: Iterator[Any]) -> Iterator[Any]:
        parts: list[Delta] = []
        for item in stream:
            if isinstance(item, Stall):
                yield item  # the reply takes this long to come back
            else:
                parts.append(item)
        yield _folded(parts)

    @staticmethod
    async def _awhole(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        parts: list[Delta] = []
        async for item in stream:
            if isinstance(item, Stall):
                yield item
            else:
                parts.append(item)
        yield _folded(parts)


def _folded(parts: list[Delta]) -> Delta:
    finish = next((p.finish_reason for p in reversed(parts) if p.finish_reason), None)
    return Delta(text="".join(p.text for p in parts), finish_reason=finish)


def chain(*hops: Hop[Any], **policy: Any) -> Chain[Any]:
    return Chain(list(hops), policy=Policy(**policy), rng=random.Random(0))


def test_a_hop_without_stall_limits_answers_whole(drive: Drive) -> None:
    """With no first-token or idle limit, a whole call takes the hop's whole reply."""
    target = Replying(ok("The answer ", "is 42."))
    run = drive(chain(Hop(target, name="a", **NO_STALL_LIMITS)), whole=True)
    assert run.error is None
    assert run.text == "The answer is 42."
    assert len(run.deltas) == 1
    assert target.used == ["reply"]
    assert run.trace.served_by == "a"
    assert run.trace.finish_reason == "stop"


def test_a_hop_with_stall_limits_streams_even_for_a_whole_call(drive: Drive) -> None:
    """The default first-token and idle limits need the stream, so a whole call still streams."""
    target = Replying(ok("The answer ", "is 42."))
    run = drive(chain(Hop(target, name="a")), whole=True)
    assert run.error is None
    assert [d.text for d in run.deltas] == ["The answer ", "is 42."]
    assert target.used == ["stream"]


def test_an_idle_limit_alone_needs_the_stream(drive: Drive) -> None:
    """A hop with only an idle limit streams: a whole reply could not show a stall."""
    target = Replying(ok("x"))
    run = drive(chain(Hop(target, first_token_timeout=None, idle_timeout=5.0)), whole=True)
    assert run.text == "x"
    assert target.used == ["stream"]


def test_a_call_that_reads_as_it_goes_always_streams(drive: Drive) -> None:
    """Without ``whole`` the hop streams, limits or not."""
    target = Replying(ok("x"))
    run = drive(chain(Hop(target, **NO_STALL_LIMITS)))
    assert run.text == "x"
    assert target.used == ["stream"]


def test_a_target_without_reply_streams(drive: Drive) -> None:
    """A target that has no ``reply`` is streamed for a whole call too."""
    target = Scripted(ok("x"))
    run = drive(chain(Hop(target, **NO_STALL_LIMITS)), whole=True)
    assert run.error is None
    assert run.text == "x"


def test_a_hedged_start_needs_the_stream(drive: Drive) -> None:
    """With ``hedge_after`` the first hop streams: a hedge races first tokens."""
    first = Replying(ok("x"))
    second = Replying(ok("y"))
    run = drive(
        chain(
            Hop(first, name="a", **NO_STALL_LIMITS),
            Hop(second, name="b", **NO_STALL_LIMITS),
            hedge_after=1.0,
        ),
        whole=True,
    )
    assert run.text == "x"
    assert first.used == ["stream"]
    assert second.used == []


def test_a_failed_whole_reply_falls_back_to_the_next_hops_whole_reply(drive: Drive) -> None:
    """A reply that is refused is a failed attempt like a stream's; the next hop answers whole."""
    first = Replying(openai_error(401))
    second = Replying(ok("from b"))
    run = drive(
        chain(Hop(first, name="a", **NO_STALL_LIMITS), Hop(second, name="b", **NO_STALL_LIMITS)),
        whole=True,
    )
    assert run.error is None
    assert run.text == "from b"
    assert (first.used, second.used) == (["reply"], ["reply"])
    assert [(r.hop, r.outcome) for r in run.trace.attempts] == [("a", "failed"), ("b", "ok")]


def test_a_whole_reply_is_not_cut_by_the_deadline_share(drive: Drive) -> None:
    """A reply longer than its share of the deadline (the first-text wait) still counts.

    The share bounds a stream's first token; a whole reply's first text is its
    end, so only the deadline and the attempt's ``timeout`` bound it.
    """
    first = Replying([Stall(8.0), *ok("slow but whole")])
    second = Replying(ok("from b"))
    run = drive(
        chain(
            Hop(first, name="a", **NO_STALL_LIMITS),
            Hop(second, name="b", **NO_STALL_LIMITS),
            deadline=12.0,  # a's share of it: 6 s
        ),
        whole=True,
    )
    assert run.error is None
    assert run.text == "slow but whole"
    assert second.used == []


def test_a_whole_reply_past_its_attempt_timeout_fails_over(drive: Drive) -> None:
    """The attempt's ``timeout`` bounds a whole reply: past it, the next hop answers."""
    first = Replying([Stall(8.0), *ok("too late")])
    second = Replying(ok("from b"))
    run = drive(
        chain(
            Hop(first, name="a", timeout=5.0, **NO_STALL_LIMITS),
            Hop(second, name="b", **NO_STALL_LIMITS),
        ),
        whole=True,
    )
    assert run.error is None
    assert run.text == "from b"
    assert run.trace.attempts[0].category is not None
    assert run.trace.attempts[0].outcome == "failed"
