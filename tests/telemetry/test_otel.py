"""OpenTelemetry spans: real chains through the hook, spans read back from an in-memory exporter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fallback_core import (
    Breaker,
    Chain,
    Continuation,
    Delta,
    Health,
    Hop,
    Policy,
    Target,
    Usage,
)
from fallback_core.otel import OpenTelemetryHook
from tests.core.conftest import Drive
from tests.core.errors import openai_error
from tests.core.scripted import Scripted, Stall, cut, ok


@dataclass
class Traced:
    """A hook wired to an SDK provider whose finished spans land in ``exporter``."""

    hook: OpenTelemetryHook
    exporter: InMemorySpanExporter
    provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == "fallback chain"]

    def attempts(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith("chat")]

    def only_call(self) -> ReadableSpan:
        (call,) = self.calls()
        return call


@pytest.fixture
def traced() -> Traced:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Traced(OpenTelemetryHook(provider, providers={"p": "openai"}), exporter, provider)


def two_hops(
    primary: Target[object],
    backup: Target[object],
    traced: Traced,
    *,
    hedge_after: float | None = None,
) -> Chain[object]:
    return Chain(
        [Hop(primary, name="p", model="m1"), Hop(backup, name="b", model="m2")],
        policy=Policy(backoff=lambda n: 0.0, hedge_after=hedge_after),
        hooks=[traced.hook],
    )


def attrs(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def children_of(parent: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s
        for s in spans
        if s.parent is not None
        and s.parent.span_id == parent.context.span_id
        and s.parent.trace_id == parent.context.trace_id
    ]


def test_call_is_a_span_with_a_child_per_attempt(drive: Drive, traced: Traced) -> None:
    """A retried 503 then a fallback give one call span over three attempt spans, in order."""
    drive(two_hops(Scripted(openai_error(503)), Scripted(ok("fine")), traced))
    call = traced.only_call()
    assert call.parent is None
    assert call.kind is SpanKind.INTERNAL
    attempts = children_of(call, traced.spans())
    assert attempts == traced.attempts()
    named = [(s.name, attrs(s)["fallback.hop"], attrs(s)["fallback.attempt"]) for s in attempts]
    assert named == [
        ("chat m1", "p", 1),
        ("chat m1", "p", 2),
        ("chat m2", "b", 1),
    ]
    assert {s.kind for s in attempts} == {SpanKind.CLIENT}
    assert attrs(call)["fallback.outcome"] == "ok"
    assert attrs(call)["fallback.served_by"] == "b"
    assert attrs(call)["fallback.attempts"] == 3
    assert call.status.status_code is StatusCode.UNSET


def test_attempt_spans_say_why_they_were_made(drive: Drive, traced: Traced) -> None:
    """A retry and a fallback are named on the attempt they caused, and as events on the call."""
    rate_limited = openai_error(429, headers={"retry-after": "0"})
    drive(two_hops(Scripted(rate_limited, openai_error(503)), Scripted(ok("fine")), traced))
    first, retry, backup = (attrs(s) for s in traced.attempts())
    assert "fallback.trigger" not in first
    assert (retry["fallback.trigger"], retry["fallback.reason"]) == ("retry", "rate_limit")
    assert (backup["fallback.trigger"], backup["fallback.reason"], backup["fallback.from_hop"]) == (
        "fallback",
        "server",
        "p",
    )
    events = {e.name: dict(e.attributes or {}) for e in traced.only_call().events}
    assert events["fallback.retry"] == {
        "fallback.hop": "p",
        "fallback.attempt": 1,
        "fallback.reason": "rate_limit",
        "fallback.retry.delay": 0.0,
        "fallback.retry.retry_after": 0.0,
    }
    assert events["fallback.fallback"] == {
        "fallback.from_hop": "p",
        "fallback.to_hop": "b",
        "fallback.reason": "server",
        "error.type": "openai.InternalServerError",
    }


@pytest.mark.parametrize(
    ("error", "error_type", "category"),
    [
        (openai_error(401), "openai.AuthenticationError", "auth"),
        (ConnectionResetError("reset"), "ConnectionResetError", "connection"),
    ],
)
def test_failed_attempt_records_its_exception(
    drive: Drive, traced: Traced, error: BaseException, error_type: str, category: str
) -> None:
    """The attempt that failed carries the exception, error.type and an ERROR status."""
    drive(two_hops(Scripted(error), Scripted(ok("fine")), traced))
    failed, served = traced.attempts()
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs(failed)["error.type"] == error_type
    assert (attrs(failed)["fallback.outcome"], attrs(failed)["fallback.category"]) == (
        "failed",
        category,
    )
    (exception,) = [e for e in failed.events if e.name == "exception"]
    assert exception.attributes is not None
    assert exception.attributes["exception.type"] == error_type
    assert served.status.status_code is StatusCode.UNSET
    assert not [e for e in served.events if e.name == "exception"]


def test_attempts_follow_the_genai_conventions(drive: Drive, traced: Traced) -> None:
    """Attempt spans carry operation, provider, request model and usage; the call the models."""
    backup = Scripted(ok("fine", usage=Usage(input_tokens=12, output_tokens=3)))
    drive(two_hops(Scripted(openai_error(401)), backup, traced))
    primary_span, backup_span = (attrs(s) for s in traced.attempts())
    assert primary_span["gen_ai.operation.name"] == "chat"
    assert primary_span["gen_ai.request.model"] == "m1"
    assert primary_span["gen_ai.provider.name"] == "openai"
    assert primary_span["gen_ai.system"] == "openai"
    assert "gen_ai.provider.name" not in backup_span, "no provider given for b"
    assert backup_span["gen_ai.usage.input_tokens"] == 12
    assert backup_span["gen_ai.usage.output_tokens"] == 3
    call = attrs(traced.only_call())
    assert (call["gen_ai.request.model"], call["gen_ai.response.model"]) == ("m1", "m2")
    assert "gen_ai.usage.input_tokens" not in call, "usage is counted on the attempts only"
    assert "fallback.cost" not in call, "no prices, no cost"


def test_the_call_span_carries_what_the_call_cost(drive: Drive, traced: Traced) -> None:
    spent = Scripted([Delta(usage=Usage(input_tokens=1000)), openai_error(503)])
    backup = Scripted(ok("fine", usage=Usage(input_tokens=2000, output_tokens=100)))
    chain = Chain(
        [Hop(spent, name="p", model="m1", max_attempts=1), Hop(backup, name="b", model="m2")],
        policy=Policy(prices={"m1": (1.0, 2.0), "m2": (3.0, 4.0)}),
        hooks=[traced.hook],
    )
    drive(chain)
    call = attrs(traced.only_call())
    assert call["fallback.cost"] == pytest.approx((1000 * 1.0 + 2000 * 3.0 + 100 * 4.0) / 1e6)


def test_continuation_is_described_on_the_attempt(drive: Drive, traced: Traced) -> None:
    """The hop that continues a cut answer records strategy, chars carried and overlap trimmed."""
    drive(two_hops(Scripted(cut("The quick")), Scripted(ok("quick brown fox")), traced))
    cut_off, continued = (attrs(s) for s in traced.attempts())
    assert cut_off["fallback.category"] == "truncated"
    assert "fallback.continuation.strategy" not in cut_off
    assert continued["fallback.continuation.strategy"] == "instruct"
    assert continued["fallback.continuation.chars_carried"] == len("The quick")
    assert continued["fallback.continuation.overlap_trimmed"] == len("quick")
    assert "fallback.continuation.seam_fix" not in continued, "no fix was needed"


def test_seam_fix_is_recorded_on_the_attempt(drive: Drive, traced: Traced) -> None:
    """A continuation that needed a space at the join records the fix it made."""
    drive(two_hops(Scripted(cut("abc")), Scripted(ok("def")), traced))
    continued = attrs(traced.attempts()[-1])
    assert continued["fallback.continuation.seam_fix"] == "inserted-space"
    assert continued["fallback.continuation.overlap_trimmed"] == 0


def test_exhausted_call_span_is_an_error(drive: Drive, traced: Traced) -> None:
    """When every hop fails the call span ends with an ERROR status and the reason."""
    drive(two_hops(Scripted(openai_error(401)), Scripted(openai_error(403)), traced))
    call = traced.only_call()
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "every hop failed"
    assert attrs(call)["fallback.outcome"] == "exhausted"
    assert len(children_of(call, traced.spans())) == 2
    assert not traced.hook._calls, "the hook forgot the call"


def test_cancelled_call_ends_its_spans(drive: Drive, traced: Traced) -> None:
    """A caller that stops listening ends the attempt and the call as cancelled."""
    drive(two_hops(Scripted(ok("a", "b", "c")), Scripted(ok("x")), traced), stop_after=1)
    (attempt,) = traced.attempts()
    assert attrs(attempt)["fallback.outcome"] == "cancelled"
    assert attempt.status.status_code is StatusCode.UNSET
    assert attrs(traced.only_call())["fallback.outcome"] == "cancelled"
    assert not traced.hook._calls, "the hook forgot the call"


class SeesCurrentSpan:
    """A target that answers, noting the span current while its stream is read."""

    def __init__(self) -> None:
        self.seen: list[trace.Span] = []

    def stream(self, request: object, continuation: Continuation | None) -> Iterator[Delta]:
        self.seen.append(trace.get_current_span())
        yield Delta(text="fine", finish_reason="stop")

    async def astream(
        self, request: object, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        self.seen.append(trace.get_current_span())
        yield Delta(text="fine", finish_reason="stop")


def test_attempt_span_is_current_while_the_hop_runs(drive: Drive, traced: Traced) -> None:
    """The hop's own code runs under its attempt span, inside the caller's span."""
    target = SeesCurrentSpan()
    chain = two_hops(Scripted(openai_error(401)), target, traced)
    tracer = traced.provider.get_tracer("test")
    with tracer.start_as_current_span("request"):
        drive(chain)
    (request,) = [s for s in traced.spans() if s.name == "request"]
    call = traced.only_call()
    assert call.parent is not None
    assert call.parent.span_id == span_id(request)
    (seen,) = target.seen
    assert seen.get_span_context().span_id == span_id(traced.attempts()[-1])
    assert trace.get_current_span() is trace.INVALID_SPAN, "nothing is left current afterwards"


def test_skipped_hop_is_an_event_on_the_call(drive: Drive, traced: Traced) -> None:
    """A hop passed over because its circuit is open shows as an event, not an attempt."""
    health = Health(Breaker(failure_threshold=1))
    health.record("p", "failure")
    chain = Chain(
        [Hop(Scripted(ok("p")), name="p"), Hop(Scripted(ok("b")), name="b")],
        hooks=[traced.hook],
        health=health,
    )
    drive(chain)
    call = traced.only_call()
    (skip,) = [e for e in call.events if e.name == "fallback.skip"]
    assert skip.attributes is not None
    assert (skip.attributes["fallback.hop"], skip.attributes["fallback.reason"]) == (
        "p",
        "circuit open",
    )
    assert [attrs(s)["fallback.hop"] for s in traced.attempts()] == ["b"]


def test_hedge_racers_are_siblings_under_the_call(drive: Drive, traced: Traced) -> None:
    """A hedged start gives both racers a span under the call; the outrun one is hedge_lost."""
    chain = two_hops(Scripted([Stall(5), "late"]), Scripted(ok("fast")), traced, hedge_after=0.05)
    drive(chain)
    call = traced.only_call()
    racers = {attrs(s)["fallback.hop"]: attrs(s) for s in children_of(call, traced.spans())}
    assert set(racers) == {"p", "b"}
    assert racers["p"]["fallback.outcome"] == "hedge_lost"
    assert racers["b"]["fallback.outcome"] == "ok"
    assert racers["b"]["fallback.trigger"] == "hedge"
    assert [e.name for e in call.events] == ["fallback.hedge"]


def test_hedge_loser_failure_is_recorded_on_the_loser_only(drive: Drive, traced: Traced) -> None:
    """A primary failing mid-race gets the error; the rival that serves has none."""
    primary = Scripted([Stall(0.1), ConnectionResetError()])
    chain = two_hops(primary, Scripted([Stall(0.2), *ok("rival")]), traced, hedge_after=0.05)
    drive(chain)
    racers = {attrs(s)["fallback.hop"]: s for s in children_of(traced.only_call(), traced.spans())}
    assert attrs(racers["p"])["fallback.outcome"] == "failed"
    assert [e.name for e in racers["p"].events] == ["exception"]
    assert racers["p"].status.status_code is StatusCode.ERROR
    assert attrs(racers["b"])["fallback.outcome"] == "ok"
    assert racers["b"].events == ()
    assert racers["b"].status.status_code is StatusCode.UNSET


def test_concurrent_calls_keep_their_own_spans(traced: Traced) -> None:
    """Calls on many threads through one hook each get their own trace, and none is kept."""
    chain = two_hops(Scripted(openai_error(401)), Scripted(ok("fine")), traced)
    threads = [threading.Thread(target=lambda: list(chain.stream("r"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = traced.calls()
    assert len(calls) == 8
    for call in calls:
        attempts = children_of(call, traced.spans())
        assert [attrs(s)["fallback.hop"] for s in attempts] == ["p", "b"]
    assert len(traced.attempts()) == 16
    assert not traced.hook._calls, "the hook forgot every call"


def test_concurrent_tasks_keep_their_own_spans(traced: Traced) -> None:
    """Calls interleaved on one event loop each get their own trace, and none is kept."""
    chain = two_hops(Scripted(openai_error(401)), Scripted(ok("one ", "two")), traced)

    async def call() -> str:
        return "".join([d.text async for d in chain.astream("r")])

    async def main() -> list[str]:
        return await asyncio.gather(*(call() for _ in range(8)))

    assert asyncio.run(main()) == ["one two"] * 8
    calls = traced.calls()
    assert len({span_id(c) for c in calls}) == 8
    for call_span in calls:
        attempts = children_of(call_span, traced.spans())
        assert [attrs(s)["fallback.hop"] for s in attempts] == ["p", "b"]
    assert not traced.hook._calls, "the hook forgot every call"


def test_call_that_raises_a_hop_error_ends_its_span(drive: Drive, traced: Traced) -> None:
    """A bad request the policy raises ends the call span with the error."""
    run = drive(two_hops(Scripted(openai_error(400)), Scripted(ok("fine")), traced))
    assert run.error is not None
    (attempt,) = traced.attempts()
    assert attempt.status.status_code is StatusCode.ERROR
    assert traced.only_call().status.status_code is StatusCode.ERROR


class SeesSpanPerChunk:
    """A target that answers in three chunks, noting the span current before each."""

    def __init__(self) -> None:
        self.seen: list[trace.Span] = []

    def stream(self, request: object, continuation: Continuation | None) -> Iterator[Delta]:
        for text in ("fast", " answer"):
            self.seen.append(trace.get_current_span())
            yield Delta(text=text)
        self.seen.append(trace.get_current_span())
        yield Delta(finish_reason="stop")

    async def astream(
        self, request: object, continuation: Continuation | None
    ) -> AsyncIterator[Delta]:
        for delta in self.stream(request, continuation):
            yield delta


def test_a_hedge_rival_runs_under_its_own_span_after_the_primary_lost(
    drive: Drive, traced: Traced
) -> None:
    """The rival's I/O runs under the rival's span from its first read to its last, though the
    outrun primary's attempt ended in between; afterwards nothing is left current."""
    rival = SeesSpanPerChunk()
    chain = two_hops(Scripted([Stall(5), "late"]), rival, traced, hedge_after=0.05)
    run = drive(chain)
    assert run.text == "fast answer"
    racers = {attrs(s)["fallback.hop"]: s for s in children_of(traced.only_call(), traced.spans())}
    assert attrs(racers["p"])["fallback.outcome"] == "hedge_lost"
    assert [s.get_span_context().span_id for s in rival.seen] == [span_id(racers["b"])] * 3
    assert trace.get_current_span() is trace.INVALID_SPAN, "nothing is left current afterwards"
