"""Time limits with nothing configured, the deadline's share per hop, and sync reads on a thread.

The rules are checked on the pure `Walk` with a fake clock where they are
arithmetic (which limit applies, and how many seconds it leaves), and through
both drivers where a real wait must end the attempt.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

from fallback_core import (
    DEFAULT_FIRST_TOKEN_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    Chain,
    Continuation,
    Delta,
    Hop,
    Policy,
    StreamTimeoutError,
    Tier,
)
from fallback_core._steps import PRIMARY, Attempt
from fallback_core._walk import Walk
from tests.walking import Clock, ClockedWalk

from .conftest import Drive
from .scripted import Scripted, Stall, ok


def walk(hops: list[Any], *, deadline: float | None = None) -> tuple[Walk, Clock]:
    chain = Chain(hops, policy=Policy(deadline=deadline), rng=random.Random(0))
    run = ClockedWalk(chain, "request")
    return run.walk, run.clock


def start(w: Walk) -> str:
    step = w.next_step()
    assert isinstance(step, Attempt)
    return step.hop.name or "?"


def limit(w: Walk) -> tuple[str, float]:
    pending = w.pending(w.racer(PRIMARY))
    assert pending is not None
    return pending[0], pending[1]


def named(name: str) -> Hop[object]:
    return Hop(Scripted(ok(name), name=name), name=name)


# -- defaults ---------------------------------------------------------------------------


def test_a_hop_configured_with_nothing_has_the_default_limits() -> None:
    """A hop given no limit waits at most the defaults for its first text and between chunks."""
    hop = Chain([Scripted(ok("x"))]).hops[0]
    assert (hop.first_token_timeout, hop.idle_timeout) == (
        DEFAULT_FIRST_TOKEN_TIMEOUT,
        DEFAULT_IDLE_TIMEOUT,
    )
    assert hop.timeout is None, "a long answer may take minutes: no per-attempt limit by default"
    assert hop.time_limited


def test_a_silent_primary_is_given_up_after_the_default_first_token_wait() -> None:
    """Nothing configured: the first read waits the default first-token limit, then the backup."""
    w, clock = walk([named("primary"), named("backup")])
    assert start(w) == "primary"
    assert limit(w) == ("first_token", DEFAULT_FIRST_TOKEN_TIMEOUT)
    clock.now = DEFAULT_FIRST_TOKEN_TIMEOUT
    error = w.expired(w.racer(PRIMARY))  # the wait has run out
    assert error is not None
    w.fail(error)
    assert start(w) == "backup"


def test_after_the_first_text_the_idle_limit_applies_to_every_gap() -> None:
    """Once text has arrived, each gap between chunks is bounded by DEFAULT_IDLE_TIMEOUT."""
    w, clock = walk([named("primary"), named("backup")])
    start(w)
    clock.now = 5.0
    w.accept(Delta(text="Hello"))
    assert limit(w) == ("idle", DEFAULT_IDLE_TIMEOUT)
    clock.now = 20.0
    w.accept(Delta())  # after the first text any chunk, even an empty one, shows life
    assert limit(w) == ("idle", DEFAULT_IDLE_TIMEOUT)


def test_keep_alives_and_role_only_chunks_do_not_count_as_the_first_token() -> None:
    """Chunks with neither text nor a tool call leave the first-token wait running."""
    w, clock = walk([Hop(Scripted(ok("x")), name="p", first_token_timeout=10)])
    start(w)
    for now in (3.0, 6.0, 9.0):
        clock.now = now
        assert w.accept(Delta(text="")) is None  # role-only chunk, ping, hidden reasoning
    assert limit(w) == ("first_token", 1.0)


def test_only_keep_alives_are_handed_to_the_backup(drive: Drive) -> None:
    """A hop that sends empty chunks but no text is abandoned at its first-token limit."""
    pings: list[object] = [item for _ in range(40) for item in (Delta(), Stall(0.02))]
    primary = Scripted(pings, name="p")
    backup = Scripted(ok("answer"), name="b")
    run = drive(Chain([Hop(primary, name="p", first_token_timeout=0.2), Hop(backup, name="b")]))
    assert run.text == "answer"
    error = run.trace.attempts[0].error
    assert isinstance(error, StreamTimeoutError)
    assert (error.phase, error.limit) == ("first_token", 0.2)


def test_the_first_token_wait_is_held_while_the_client_queues_and_starts_when_sent() -> None:
    """A request the client holds back has no first-token limit yet; sending starts it."""
    w, clock = walk([named("primary"), named("backup")])
    start(w)
    changes: list[str] = []
    reports = w.send_reports(lambda: changes.append("moved"))
    reports.queued()
    queued = w.pending(w.racer(PRIMARY))
    assert queued is None, "queueing inside the client is not the provider's delay"
    clock.now = 100.0
    reports.sent()
    clock.now = 110.0
    assert limit(w) == ("first_token", DEFAULT_FIRST_TOKEN_TIMEOUT - 10)
    assert changes == ["moved", "moved"]
    w.accept(Delta(text="Hi"))
    reports.sent()  # a late report, after the first text, changes nothing
    assert limit(w) == ("idle", DEFAULT_IDLE_TIMEOUT)
    assert changes == ["moved", "moved"]


def test_while_queued_the_deadline_share_still_runs() -> None:
    """The share protects the backups' time, so a request stuck in its client still yields."""
    w, _ = walk([named("primary"), named("backup")], deadline=60)
    start(w)
    w.send_reports().queued()
    assert limit(w) == ("deadline_share", 30.0)


# -- the deadline's share -----------------------------------------------------------------


def test_with_a_deadline_the_primary_waits_only_its_share() -> None:
    """Two hops, a 60 s deadline: the primary waits 30 s for its first text, the backup the rest."""
    w, clock = walk([named("primary"), named("backup")], deadline=60)
    assert start(w) == "primary"
    assert limit(w) == ("deadline_share", 30.0)
    clock.now = 30.0
    error = w.expired(w.racer(PRIMARY))
    assert error is not None
    assert (error.phase, error.limit) == ("deadline_share", 30.0)
    w.fail(error)
    assert start(w) == "backup"
    assert limit(w) == ("deadline", 30.0), "the last place may use all that is left"


def test_the_share_splits_what_is_left_over_the_places_still_to_try() -> None:
    """Each attempt's share is what is left divided by itself plus every later place."""
    hops = [named("a"), named("b"), named("c"), named("d")]
    w, clock = walk(hops, deadline=80)
    start(w)
    assert limit(w) == ("deadline_share", 20.0)  # 80 s over a, b, c, d
    clock.now = 5.0  # a fails early: its unused time goes to the others
    w.fail(ConnectionResetError())
    start(w)
    assert limit(w) == ("deadline_share", 25.0)  # 75 s over b, c, d


def test_a_tier_counts_as_one_place_in_the_share() -> None:
    """Another deployment of the same tier counts once, like any later place."""
    tier = Tier([named("east"), named("west")])
    w, clock = walk([tier, named("other")], deadline=60)
    first = start(w)
    assert limit(w) == ("deadline_share", 20.0)  # itself, the rest of its tier, "other"
    clock.now = 20.0
    w.fail(ConnectionResetError())
    second = start(w)
    assert {first, second} == {"east", "west"}
    assert limit(w) == ("deadline_share", 20.0)  # 40 s over itself and "other"


def test_the_share_bounds_only_the_wait_for_the_first_text() -> None:
    """Once text flows, a hop may use the rest of the deadline; the idle limit still applies."""
    w, clock = walk([named("primary"), named("backup")], deadline=60)
    start(w)
    clock.now = 1.0
    w.accept(Delta(text="Hi"))
    assert limit(w) == ("idle", DEFAULT_IDLE_TIMEOUT)
    clock.now = 40.0
    w.accept(Delta(text=" there"))
    assert limit(w) == ("deadline", 20.0)


def test_a_smaller_own_limit_wins_over_the_share() -> None:
    """A hop's own first-token limit applies when it is shorter than its share."""
    primary = Hop(Scripted(ok("p")), name="p", first_token_timeout=5)
    w, _ = walk([primary, named("backup")], deadline=60)
    start(w)
    assert limit(w) == ("first_token", 5.0)


def test_a_silent_primary_leaves_the_backup_time_to_answer(drive: Drive) -> None:
    """With a deadline and no other limit, the backup of a silent primary still answers."""
    primary = Scripted([Stall(10), "late"], name="p")
    backup = Scripted(ok("from the backup"), name="b")
    hops = [Hop(primary, name="p", first_token_timeout=None), Hop(backup, name="b")]
    run = drive(Chain(hops, policy=Policy(deadline=0.6)))
    assert run.error is None
    assert run.text == "from the backup"
    error = run.trace.attempts[0].error
    assert isinstance(error, StreamTimeoutError)
    assert error.phase == "deadline_share"


# -- sync reads on a helper thread ----------------------------------------------------------


class Counted:
    """A target whose sync stream records every item pulled from it."""

    def __init__(self, *texts: str, stall: threading.Event | None = None) -> None:
        self.texts = texts
        self.stall = stall
        self.pulled: list[str] = []
        self.closed = threading.Event()

    def stream(self, request: object, continuation: Continuation | None) -> Iterator[Delta]:
        try:
            if self.stall is not None:
                self.stall.wait(10)
            for text in self.texts:
                self.pulled.append(text)
                yield Delta(text=text)
            yield Delta(finish_reason="stop")
        finally:
            self.closed.set()

    async def astream(self, request: object, continuation: Continuation | None) -> Any:
        raise NotImplementedError


def test_the_helper_thread_never_reads_ahead_of_the_caller() -> None:
    """A caller that takes two chunks and closes has pulled exactly two: nothing more is read."""
    target = Counted("one", "two", "three", "four")
    stream = Chain([Hop(target, name="p", idle_timeout=5)]).stream("request")
    taken = [next(stream).text, next(stream).text]
    stream.close()
    assert taken == ["one", "two"]
    assert target.pulled == ["one", "two"]
    assert target.closed.is_set(), "the hop's stream is closed before close() returns"


class Blocking(Counted):
    """`Counted`, its stream an iterator object: closed is recorded even if it was never read.

    (Under load the reader thread may not have started its read when the limit
    passes; a generator never started runs no ``finally`` when closed.)
    """

    def stream(self, request: object, continuation: Continuation | None) -> Iterator[Delta]:
        target, items = self, Counted.stream(self, request, continuation)

        class Stream:
            def __iter__(self) -> Stream:
                return self

            def __next__(self) -> Delta:
                return next(items)

            def close(self) -> None:
                items.close()
                target.closed.set()

        return Stream()


def test_an_abandoned_blocked_read_closes_its_stream_without_reading_more() -> None:
    """A read blocked past its limit is left; when it returns, its stream is closed unread."""
    release = threading.Event()
    primary = Blocking("late", "later", stall=release)
    backup = Scripted(ok("backup"), name="b")
    chain = Chain([Hop(primary, name="p", first_token_timeout=0.05), Hop(backup, name="b")])
    stream = chain.stream("request")
    assert "".join(d.text for d in stream) == "backup"
    readers = [t for t in threading.enumerate() if t.name == "fallback-chain-reader"]
    release.set()
    for reader in readers:
        reader.join(5)
    assert primary.closed.is_set()
    assert "later" not in primary.pulled, "the read in progress ends; no further item is asked for"
