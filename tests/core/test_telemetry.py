"""Per-hop telemetry: event records, hook scopes, failing hooks, the logging hook."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from fallback_core import (
    Category,
    Chain,
    ChainExhausted,
    ContinuationJoined,
    FallbackTriggered,
    Hop,
    HopEnded,
    HopStarted,
    LoggingHook,
    Policy,
    RetryScheduled,
)

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, cut, ok


def two_hops(primary: Scripted, backup: Scripted, *hooks: object) -> Chain[object]:
    return Chain(
        [Hop(primary, name="p", model="m1"), Hop(backup, name="b", model="m2")],
        policy=Policy(backoff=lambda n: 0.0),
        hooks=hooks,  # type: ignore[arg-type]
    )


def test_events_tell_the_story_of_a_call(drive: Drive) -> None:
    """A retry, a fallback with continuation and a success produce events in order."""
    events: list[object] = []
    primary = Scripted(openai_error(503), cut("abc"), name="p")
    backup = Scripted(ok("def"), name="b")
    drive(two_hops(primary, backup, events.append))
    story = [
        (type(e).__name__, getattr(e, "hop", None) or getattr(e, "to_hop", None)) for e in events
    ]
    assert story == [
        ("HopStarted", "p"),
        ("HopEnded", "p"),
        ("RetryScheduled", "p"),
        ("HopStarted", "p"),
        ("HopEnded", "p"),
        ("FallbackTriggered", "b"),
        ("HopStarted", "b"),
        ("ContinuationJoined", "b"),
        ("HopEnded", "b"),
        ("CallEnded", None),
    ]
    ended = [e for e in events if isinstance(e, HopEnded)]
    assert [(e.outcome, e.category, e.chars) for e in ended] == [
        ("failed", Category.SERVER, 0),
        ("failed", Category.TRUNCATED, 3),
        ("ok", None, 4),  # " def": the seam inserted the space the backup left out
    ]
    joined = next(e for e in events if isinstance(e, ContinuationJoined))
    assert (joined.strategy, joined.chars_carried, joined.overlap_trimmed, joined.seam_fix) == (
        "instruct",
        3,
        0,
        "inserted-space",
    )
    started = [e for e in events if isinstance(e, HopStarted)]
    assert [(s.continuation, s.chars_carried) for s in started] == [
        (None, 0),
        (None, 0),
        ("instruct", 3),
    ]
    assert ended[2].time_to_first_token is not None
    assert len({e.call_id for e in events if hasattr(e, "call_id")}) == 1  # type: ignore[union-attr]
    retry = next(e for e in events if isinstance(e, RetryScheduled))
    assert retry.attempt == 1
    fallback = next(e for e in events if isinstance(e, FallbackTriggered))
    assert fallback.from_hop == "p"


def test_exhaustion_is_an_event(drive: Drive) -> None:
    """When the chain runs out a ChainExhausted event carries the attempts."""
    events: list[object] = []
    drive(two_hops(Scripted(openai_error(401)), Scripted(openai_error(401)), events.append))
    exhausted = [e for e in events if isinstance(e, ChainExhausted)]
    assert len(exhausted) == 1
    assert [a.hop for a in exhausted[0].attempts] == ["p", "b"]


def test_hook_context_manager_wraps_each_attempt(drive: Drive) -> None:
    """A hook returning a context manager has it entered per attempt and exited with its error."""
    spans: list[tuple[str, str, object]] = []

    def hook(event: object) -> contextlib.AbstractContextManager[None] | None:
        if not isinstance(event, HopStarted):
            return None

        @contextlib.contextmanager
        def span() -> Iterator[None]:
            spans.append(("enter", event.hop, None))
            try:
                yield
            except BaseException as exc:
                spans.append(("exit", event.hop, type(exc).__name__))
                raise
            spans.append(("exit", event.hop, None))

        return span()

    drive(two_hops(Scripted(openai_error(401)), Scripted(ok("fine")), hook))
    assert spans == [
        ("enter", "p", None),
        ("exit", "p", "AuthenticationError"),
        ("enter", "b", None),
        ("exit", "b", None),
    ]


def test_failing_hook_never_breaks_the_call_and_is_logged_once(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises on every event leaves the answer intact and logs one traceback."""

    def broken(event: object) -> None:
        raise RuntimeError("hook bug")

    with caplog.at_level(logging.DEBUG, logger="fallback_core"):
        run = drive(two_hops(Scripted(openai_error(401)), Scripted(ok("fine")), broken))
    assert run.text == "fine"
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno == logging.ERROR]
    assert len(tracebacks) == 1
    assert "hook bug" in str(tracebacks[0].exc_info[1])  # type: ignore[index]


def test_broken_scope_never_breaks_the_call(drive: Drive) -> None:
    """A context manager from a hook that fails to enter or exit is ignored."""

    class BadScope:
        def __enter__(self) -> None:
            raise RuntimeError("enter")

        def __exit__(self, *exc: object) -> None:
            raise RuntimeError("exit")

    class BadExit(BadScope):
        def __enter__(self) -> None:
            return None

    scopes = iter([BadScope(), BadExit()])
    run = drive(
        two_hops(Scripted(openai_error(401)), Scripted(ok("fine")), lambda e: next(scopes, None))
    )
    assert run.text == "fine"


def test_logging_hook_reports_fallbacks(drive: Drive, caplog: pytest.LogCaptureFixture) -> None:
    """The stdlib logging hook writes retries and fallbacks as warnings, hops as debug."""
    with caplog.at_level(logging.DEBUG, logger="fallback_core.hops"):
        drive(two_hops(Scripted(openai_error(503)), Scripted(ok("fine")), LoggingHook()))
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert any(lvl == "WARNING" and "retrying p" in msg for lvl, msg in messages)
    assert any(lvl == "WARNING" and "falling back from p to b" in msg for lvl, msg in messages)
    assert any(lvl == "DEBUG" and "b attempt 1 ok" in msg for lvl, msg in messages)


def test_logging_hook_reports_exhaustion(drive: Drive, caplog: pytest.LogCaptureFixture) -> None:
    """Exhaustion is logged as an error."""
    with caplog.at_level(logging.DEBUG, logger="fallback_core.hops"):
        drive(two_hops(Scripted(cut("x")), Scripted(openai_error(401)), LoggingHook()))
    assert any(r.levelname == "ERROR" and "exhausted" in r.getMessage() for r in caplog.records)
    assert any("continuing 1 chars" in r.getMessage() for r in caplog.records)


def test_trace_is_json_friendly(drive: Drive) -> None:
    """The trace converts to plain data for response metadata."""
    import json

    run = drive(two_hops(Scripted(openai_error(401)), Scripted(ok("fine"))))
    data = run.trace.to_dict()
    assert json.loads(json.dumps(data))["served_by"] == "b"
    assert [a["outcome"] for a in data["attempts"]] == ["failed", "ok"]  # type: ignore[index]


def test_per_call_hooks_see_only_their_call(drive: Drive) -> None:
    """Hooks passed to one call receive that call's events in addition to the chain's hooks."""
    chain_events: list[object] = []
    built = two_hops(Scripted(openai_error(401)), Scripted(ok("fine")), chain_events.append)
    mine: list[object] = []
    stream = built.stream("r", hooks=[mine.append])
    assert "".join(d.text for d in stream) == "fine"
    drive(built)  # a second call, without the extra hook
    assert [type(e).__name__ for e in mine] == [
        "HopStarted",
        "HopEnded",
        "FallbackTriggered",
        "HopStarted",
        "HopEnded",
        "CallEnded",
    ]
    assert len(chain_events) == 2 * len(mine)


def test_seam_event_reaches_hooks_before_the_joined_text() -> None:
    """Hooks hear of a continuation's seam before the caller receives the text after it."""
    order: list[str] = []
    chain = two_hops(Scripted(cut("The quick")), Scripted(ok("quick brown fox")), order.append)
    stream = chain.stream("r")
    for delta in stream:
        order.append(f"text:{delta.text}")
    names = [o if isinstance(o, str) else type(o).__name__ for o in order]
    assert names.index("ContinuationJoined") < names.index("text: brown fox")


def test_every_call_ends_with_exactly_one_call_ended(drive: Drive) -> None:
    """Finished, exhausted, raised or abandoned: the last event says how the call ended."""
    from fallback_core import CallEnded

    def ending(chain_targets: tuple[Scripted, Scripted], **kw: object) -> list[CallEnded]:
        events: list[object] = []
        run = drive(two_hops(*chain_targets, events.append), **kw)
        ends = [e for e in events if isinstance(e, CallEnded)]
        assert len(ends) == 1
        assert events[-1] is ends[0]
        assert ends[0].trace.attempts == run.trace.attempts
        return ends

    (done,) = ending((Scripted(ok("fine")), Scripted(ok("b"))))
    assert (done.outcome, done.error, done.trace.served_by) == ("ok", None, "p")
    bad = openai_error(400)
    (raised,) = ending((Scripted(bad), Scripted(ok("b"))))
    assert (raised.outcome, raised.error) == ("failed", bad)
    (exhausted,) = ending((Scripted(openai_error(401)), Scripted(openai_error(401))))
    assert exhausted.outcome == "failed"
    assert type(exhausted.error).__name__ == "ChainExhaustedError"
    (left,) = ending((Scripted(ok("one", "two")), Scripted(ok("b"))), stop_after=1)
    assert left.outcome == "cancelled"
