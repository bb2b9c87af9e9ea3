"""The call's flow driven by hand: what a driver's I/O may answer that no simulation produces.

Real I/O has gaps a virtual one does not - a reader thread's report landing
just after a wait ran out, a caller slow to ask for the next delta, a second
cancellation while the call cleans up, a stream whose close fails - so these
tests answer each command themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fallback_core import CallEnded, Chain, Delta, Health, Hop, Policy
from fallback_core._steps import END, TIMED_OUT, Close, Consult, Emit, Open, Read
from fallback_core._walk import Walk

from .scripted import Scripted, ok
from .virtual import VirtualTime


class Driven:
    """One call's flow and the events it emitted, answered command by command."""

    def __init__(self, chain: Chain[Any]) -> None:
        self.time = VirtualTime()
        self.walk = Walk(chain, "request", clock=self.time)
        self.flow = self.walk.run()
        self.events: list[object] = []
        self.command: Any = next(self.flow)

    def answer(self, reply: Any = None) -> Any:
        """Reply to the pending command; events are taken as heard. Returns the next command."""
        self.command = self.flow.send(reply)
        while isinstance(self.command, Emit):
            self.events.extend(self.command.events)
            self.command = self.flow.send(None)
        return self.command

    def skip_events(self) -> Any:
        while isinstance(self.command, Emit):
            self.events.extend(self.command.events)
            self.command = self.flow.send(None)
        return self.command


def test_a_wait_that_ran_out_as_a_report_moved_its_limit_is_waited_again() -> None:
    """A TIMED_OUT read whose limit a late report moved is read again, not failed."""
    primary = Scripted(ok("x"), name="p")
    chain = Chain([Hop(primary, name="p", first_token_timeout=1.0, idle_timeout=None)])  # type: ignore[arg-type]
    call = Driven(chain)
    assert isinstance(call.skip_events(), Open)
    assert isinstance(call.answer(None), Read)
    call.time.now = 1.0  # the wait ran out ...
    call.walk._live.sent_at = 0.5  # type: ignore[union-attr]  # ... as the request was reported sent
    assert isinstance(call.answer(TIMED_OUT), Read)  # half a second left: wait again
    assert call.walk.trace().attempts == ()


def test_the_idle_wait_starts_when_the_caller_asks_for_more() -> None:
    """A caller that holds a delta for longer than idle_timeout does not time the hop out."""
    chain = Chain([Hop(Scripted(ok("x")), name="p", idle_timeout=0.2)])  # type: ignore[arg-type]
    call = Driven(chain)
    call.skip_events()
    read = call.answer(None)
    assert isinstance(call.answer((read.tags[0], Delta(text="a"), None)), Delta)
    call.time.now += 0.3  # the caller is busy with "a"
    read = call.answer(None)
    assert isinstance(read, Read)
    assert read.wait() == pytest.approx(0.2)


class Cancelled(BaseException):
    """A cancellation, as a task or an interrupted caller gets one."""


def test_a_second_cancellation_while_health_hears_the_end_still_ends_the_call() -> None:
    """Thrown into the cleanup's consultation, an exception still lets CallEnded out."""
    chain = Chain([Hop(Scripted(ok("x")), name="p")], health=Health())  # type: ignore[arg-type]
    call = Driven(chain)
    assert isinstance(call.skip_events(), Consult)  # admit the hop
    admission = chain.health.consult(call.command)  # type: ignore[union-attr]
    assert isinstance(call.answer(admission), Open)
    assert isinstance(call.answer(None), Read)
    call.command = call.flow.throw(Cancelled())  # the caller is interrupted ...
    assert isinstance(call.skip_events(), Close)
    assert isinstance(call.answer(None), Consult)  # ... health hears of the cancelled attempt ...
    ended = call.flow.throw(Cancelled())  # ... and the caller is interrupted again
    assert isinstance(ended, Emit)
    assert any(isinstance(event, CallEnded) for event in ended.events)
    with pytest.raises(Cancelled):
        call.flow.send(None)


class CloseFails:
    """A hop whose stream plays ``items`` and raises from ``close``."""

    def __init__(self, *items: Any) -> None:
        self.items = items
        self.closed = 0

    def stream(self, request: Any, continuation: Any) -> Iterator[Delta]:
        target = self

        class Stream:
            def __init__(self) -> None:
                self._items = iter(target.items)

            def __iter__(self) -> Stream:
                return self

            def __next__(self) -> Delta:
                item = next(self._items)
                if isinstance(item, BaseException):
                    raise item
                return Delta(text=item) if isinstance(item, str) else item

            def close(self) -> None:
                target.closed += 1
                raise OSError("close failed")

        return Stream()

    def astream(self, request: Any, continuation: Any) -> Any:
        raise NotImplementedError  # the sync driver's tests only


UNTIMED: dict[str, Any] = {"first_token_timeout": None, "idle_timeout": None}  # read directly


def run(chain: Chain[Any]) -> tuple[str, list[tuple[str, str]]]:
    stream = chain.stream("request")
    text = "".join(delta.text for delta in stream)
    return text, [(a.hop, a.outcome) for a in stream.trace.attempts]


def test_a_stream_that_fails_to_close_after_its_answer_keeps_the_answer() -> None:
    """The answer was complete: a close error afterwards is logged, not the call's failure."""
    primary = CloseFails("ok", Delta(finish_reason="stop"))
    chain = Chain([Hop(primary, name="p", **UNTIMED), Hop(Scripted(ok("B")), name="b")])  # type: ignore[arg-type]
    assert run(chain) == ("ok", [("p", "ok")])
    assert primary.closed == 1


def test_a_failing_stream_whose_close_fails_too_still_falls_back() -> None:
    """The stream's own error decides; the close error does not end the call."""
    primary = CloseFails("half", ConnectionError("reset"))
    chain = Chain(
        [Hop(primary, name="p", **UNTIMED), Hop(Scripted(ok(" and the rest")), name="b")],  # type: ignore[arg-type]
        policy=Policy(backoff=lambda n: 0.0),
    )
    text, attempts = run(chain)
    assert text == "half and the rest"
    assert attempts[-1] == ("b", "ok")


def test_a_stream_ended_without_finish_whose_close_fails_is_a_failed_attempt() -> None:
    """No finish and a failed close: the attempt failed, and the next hop continues it."""
    primary = CloseFails("half")
    chain = Chain(
        [
            Hop(primary, name="p", require_finish=False, **UNTIMED),
            Hop(Scripted(ok(" rest")), name="b"),
        ],  # type: ignore[arg-type]
        policy=Policy(backoff=lambda n: 0.0),
    )
    text, attempts = run(chain)
    assert (text, attempts[0][1], attempts[-1]) == ("half rest", "failed", ("b", "ok"))


def test_the_flow_reads_a_delta_as_the_io_answers_it() -> None:
    """A Read answered with the end of the stream ends an attempt that had finished."""
    call = Driven(Chain([Hop(Scripted(ok("x")), name="p")]))  # type: ignore[arg-type]
    call.skip_events()
    read = call.answer(None)
    assert isinstance(call.answer((read.tags[0], Delta(text="x"), None)), Delta)
    call.answer(None)
    assert isinstance(call.answer((read.tags[0], Delta(finish_reason="stop"), None)), Read)
    assert isinstance(call.answer((read.tags[0], END, None)), Close)
    with pytest.raises(StopIteration):  # the answer is complete: the flow returns
        call.answer(None)
    assert call.walk.trace().served_by == "p"
    assert isinstance(call.events[-1], CallEnded)
