"""Walking the chain: retries, fallback, exhaustion and budgets, through both drivers."""

from __future__ import annotations

import httpx
import pytest

from fallback_core import (
    Category,
    Chain,
    ChainExhaustedError,
    DeadlineExceededError,
    Delta,
    FallbackTriggered,
    Hop,
    Policy,
    RetryScheduled,
    Rule,
    Usage,
)

from .conftest import Drive
from .errors import openai_error, request
from .scripted import Scripted, cut, ok
from .virtual import VirtualTime

NO_WAIT = Policy(backoff=lambda n: 0.0)


def chain(*hops: Scripted | Hop[object], **policy: object) -> Chain[object]:
    built = [h if isinstance(h, Hop) else Hop(h, name=h.name) for h in hops]
    return Chain(built, policy=Policy(**{"backoff": lambda n: 0.0, **policy}))  # type: ignore[arg-type]


def test_healthy_primary_serves_alone(drive: Drive) -> None:
    """A primary that answers completely serves the call; the backup is never called."""
    primary, backup = Scripted(ok("Hello", " world"), name="primary"), Scripted(ok("x"), name="b")
    run = drive(chain(primary, backup))
    assert run.error is None
    assert run.text == "Hello world"
    assert run.trace.served_by == "primary"
    assert run.trace.finish_reason == "stop"
    assert [a.outcome for a in run.trace.attempts] == ["ok"]
    assert backup.calls == []


def test_error_before_first_token_moves_to_next_hop(drive: Drive) -> None:
    """A connection failure before any text hands the original request to the next hop."""
    primary = Scripted(httpx.ConnectError("refused", request=request()), name="primary")
    backup = Scripted(ok("From backup"), name="backup")
    run = drive(chain(primary, backup), "the request")
    assert run.text == "From backup"
    assert run.trace.served_by == "backup"
    assert len(primary.calls) == 1, "a connection failure is not retried on the same hop"
    assert backup.calls[0].request == "the request"
    assert backup.calls[0].continuation is None


def test_every_hop_gets_the_same_request_object(drive: Drive) -> None:
    """Per-call parameters travel in the request, unchanged, to every hop."""
    request_obj = {"messages": ["hi"], "temperature": 0.2, "stop": ["\n"], "tools": ["t"]}
    hops = [Scripted(openai_error(401), name=f"h{i}") for i in range(2)]
    last = Scripted(ok("done"), name="last")
    drive(chain(*hops, last), request_obj)
    for target in [*hops, last]:
        assert target.calls[0].request is request_obj


def test_rate_limit_waits_for_retry_after_then_retries_same_hop(drive: Drive) -> None:
    """A 429 with Retry-After is retried on the same hop after exactly that delay."""
    events: list[object] = []
    primary = Scripted(openai_error(429, headers={"retry-after": "0.02"}), ok("ok"), name="p")
    backup = Scripted(ok("backup"), name="b")
    built = Chain([Hop(primary, name="p"), Hop(backup, name="b")], hooks=[events.append])
    run = drive(built)
    assert run.text == "ok"
    assert len(primary.calls) == 2
    assert backup.calls == []
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [(r.delay, r.retry_after, r.category) for r in retries] == [
        (0.02, 0.02, Category.RATE_LIMIT)
    ]


def test_persistent_rate_limit_retries_twice_then_falls_back(drive: Drive) -> None:
    """A hop that keeps answering 429 gets two retries, then the next hop serves."""
    primary = Scripted(openai_error(429), name="p")
    backup = Scripted(ok("backup"), name="b")
    run = drive(chain(primary, backup))
    assert run.text == "backup"
    assert len(primary.calls) == 3
    assert [a.category for a in run.trace.attempts] == [Category.RATE_LIMIT] * 3 + [None]


def test_retry_after_beyond_the_cap_moves_on_without_waiting(drive: Drive) -> None:
    """A Retry-After longer than max_retry_after is not waited for: the next hop serves now."""
    events: list[object] = []
    primary = Scripted(openai_error(429, headers={"retry-after": "120"}), name="p")
    backup = Scripted(ok("backup"), name="b")
    built = Chain(
        [Hop(primary, name="p"), Hop(backup, name="b")],
        policy=Policy(max_retry_after=5),
        hooks=[events.append],
    )
    run = drive(built)
    assert run.text == "backup"
    assert len(primary.calls) == 1
    assert not [e for e in events if isinstance(e, RetryScheduled)]
    fallbacks = [e for e in events if isinstance(e, FallbackTriggered)]
    assert [(f.from_hop, f.to_hop, f.category) for f in fallbacks] == [
        ("p", "b", Category.RATE_LIMIT)
    ]


def test_server_error_is_retried_once_then_falls_back(drive: Drive) -> None:
    """A 503 earns one retry on the same hop before the walk moves on."""
    primary = Scripted(openai_error(503), name="p")
    backup = Scripted(ok("backup"), name="b")
    run = drive(chain(primary, backup))
    assert run.text == "backup"
    assert len(primary.calls) == 2


def test_server_error_once_is_healed_by_the_retry(drive: Drive) -> None:
    """A single 500 followed by success is served by the same hop."""
    primary = Scripted(openai_error(500), ok("second try"), name="p")
    run = drive(chain(primary, Scripted(ok("b"), name="b")))
    assert run.text == "second try"
    assert run.trace.served_by == "p"
    assert [a.outcome for a in run.trace.attempts] == ["failed", "ok"]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(openai_error(401), id="auth"),
        pytest.param(httpx.ReadTimeout("t", request=request()), id="timeout"),
        pytest.param(ConnectionResetError(), id="reset"),
    ],
)
def test_errors_that_are_never_retried_move_on(drive: Drive, error: BaseException) -> None:
    """Auth failures, timeouts and resets go straight to the next hop."""
    primary = Scripted(error, name="p")
    run = drive(chain(primary, Scripted(ok("b"), name="b")))
    assert run.text == "b"
    assert len(primary.calls) == 1


def test_bad_request_raises_at_once(drive: Drive) -> None:
    """A 400 the caller caused is raised as the provider raised it; no hop is tried after."""
    error = openai_error(400)
    backup = Scripted(ok("b"), name="b")
    run = drive(chain(Scripted(error, name="p"), backup))
    assert run.error is error
    assert backup.calls == []


def test_content_policy_raises_by_default_and_can_fall_back(drive: Drive) -> None:
    """A content-policy refusal raises unless the policy says to move on."""
    error = openai_error(400, code="content_policy_violation")
    run = drive(chain(Scripted(error, name="p"), Scripted(ok("b"), name="b")))
    assert run.error is error
    run = drive(
        chain(
            Scripted(error, name="p"),
            Scripted(ok("b"), name="b"),
            rules={Category.CONTENT_POLICY: "fallback"},
        )
    )
    assert run.text == "b"


def test_context_length_skips_hops_that_are_not_larger(drive: Drive) -> None:
    """After a context-length error the walk skips hops whose window is not larger."""
    small = Scripted(openai_error(400, code="context_length_exceeded"), name="small")
    same = Scripted(ok("same"), name="same")
    large = Scripted(ok("large"), name="large")
    built = chain(
        Hop(small, name="small", context_window=8000),
        Hop(same, name="same", context_window=8000),
        Hop(large, name="large", context_window=128000),
    )
    run = drive(built)
    assert run.text == "large"
    assert same.calls == []
    assert len(small.calls) == 1


def test_context_length_moves_to_hop_with_unknown_window(drive: Drive) -> None:
    """A hop that declares no window may be larger, so it is tried."""
    small = Scripted(openai_error(400, code="context_length_exceeded"), name="small")
    unknown = Scripted(ok("unknown"), name="unknown")
    run = drive(chain(Hop(small, name="small", context_window=8000), Hop(unknown, name="unknown")))
    assert run.text == "unknown"


def test_exhaustion_lists_every_attempt_and_chains_the_last_error(drive: Drive) -> None:
    """When every hop fails, ChainExhaustedError lists all attempts and chains the last error."""
    last = ConnectionRefusedError("backup down")
    run = drive(chain(Scripted(openai_error(503), name="p"), Scripted(last, name="b")))
    error = run.error
    assert isinstance(error, ChainExhaustedError)
    assert [(a.hop, a.category) for a in error.attempts] == [
        ("p", Category.SERVER),
        ("p", Category.SERVER),
        ("b", Category.CONNECTION),
    ]
    assert error.__cause__ is last
    assert "p attempt 1: server" in str(error)
    assert "b attempt 1: connection" in str(error)


def test_keyboard_interrupt_is_never_caught(drive: Drive) -> None:
    """KeyboardInterrupt from a hop propagates; no other hop is tried."""
    backup = Scripted(ok("b"), name="b")
    built = chain(Scripted([KeyboardInterrupt()], name="p"), backup)
    with pytest.raises(KeyboardInterrupt):
        drive(built)
    assert backup.calls == []


def test_deadline_bounds_the_whole_call(drive: Drive) -> None:
    """A call whose deadline passes while retrying raises DeadlineExceededError, not a hang."""
    slow = Scripted(openai_error(503), name="p")
    built = Chain(
        [Hop(slow, name="p"), Hop(Scripted(openai_error(503), name="b"), name="b")],
        policy=Policy(deadline=0.05, backoff=lambda n: 0.03),
    )
    run = drive(built)
    assert isinstance(run.error, ChainExhaustedError)
    assert len(run.error.attempts) <= 4


def test_deadline_exceeded_before_next_attempt(drive: Drive) -> None:
    """A deadline that passes during a stall is reported as DeadlineExceededError."""
    from .scripted import Stall

    built = Chain(
        [Hop(Scripted(cut("a", Stall(5)), name="p"), name="p"), Hop(Scripted(ok("b")), name="b")],
        policy=Policy(deadline=0.1),
    )
    run = drive(built)
    assert isinstance(run.error, DeadlineExceededError)
    assert run.error.partial_text == "a"


def test_max_attempts_caps_attempts_across_hops(drive: Drive) -> None:
    """The overall attempt budget stops the walk even with hops left."""
    hops = [Scripted(openai_error(503), name=f"h{i}") for i in range(4)]
    run = drive(chain(*hops, max_attempts=3))
    assert isinstance(run.error, ChainExhaustedError)
    assert len(run.error.attempts) == 3
    assert "max_attempts=3" in run.error.reason


def test_hop_max_attempts_of_one_disables_retries(drive: Drive) -> None:
    """A hop with max_attempts=1 is never retried, whatever the rule allows."""
    primary = Scripted(openai_error(429), name="p")
    run = drive(chain(Hop(primary, name="p", max_attempts=1), Scripted(ok("b"), name="b")))
    assert run.text == "b"
    assert len(primary.calls) == 1


def test_rules_override_retries_per_category(drive: Drive) -> None:
    """A Rule per category sets how often the same hop is retried."""
    primary = Scripted(ConnectionResetError(), name="p")
    run = drive(
        chain(primary, Scripted(ok("b"), name="b"), rules={Category.CONNECTION: Rule(retries=2)})
    )
    assert run.text == "b"
    assert len(primary.calls) == 3


def test_classify_function_overrides_the_default(drive: Drive) -> None:
    """A plain function can reclassify errors; None keeps the default."""

    class Quota(Exception):
        pass

    def classify(exc: BaseException) -> Category | None:
        return Category.BAD_REQUEST if isinstance(exc, Quota) else None

    error = Quota()
    run = drive(chain(Scripted(error, name="p"), Scripted(ok("b"), name="b"), classify=classify))
    assert run.error is error


def test_classify_mapping_of_exception_types(drive: Drive) -> None:
    """A mapping from exception types to categories works where a function does."""

    class Flaky(Exception):
        pass

    primary = Scripted(Flaky(), ok("p"), name="p")
    run = drive(chain(primary, Scripted(ok("b"), name="b"), classify={Flaky: Category.SERVER}))
    assert run.text == "p"
    assert len(primary.calls) == 2


def test_truncated_stream_is_continued_by_next_hop(drive: Drive) -> None:
    """A stream that ends without a finish reason is a failure; the next hop continues its text."""
    primary = Scripted(cut("The quick", " brown"), name="p")
    backup = Scripted(ok(" fox"), name="b")
    run = drive(chain(primary, backup))
    assert run.error is None
    assert run.text == "The quick brown fox"
    assert run.trace.attempts[0].category is Category.TRUNCATED
    continuation = backup.calls[0].continuation
    assert continuation is not None
    assert continuation.text == "The quick brown"
    assert continuation.strategy == "instruct"


def test_hop_that_never_reports_finish_can_opt_out(drive: Drive) -> None:
    """With require_finish=False a clean end of stream is a complete answer."""
    primary = Scripted(cut("whole answer"), name="p")
    run = drive(chain(Hop(primary, name="p", require_finish=False), Scripted(ok("b"), name="b")))
    assert run.text == "whole answer"
    assert run.trace.served_by == "p"


def test_length_finish_is_a_complete_answer(drive: Drive) -> None:
    """finish_reason="length" is the model's own limit, not a failure."""
    run = drive(chain(Scripted(ok("long", finish="length"), name="p"), Scripted(ok("b"))))
    assert run.text == "long"
    assert run.trace.finish_reason == "length"


def test_failure_mid_stream_continues_with_prefill_when_the_hop_declares_it(drive: Drive) -> None:
    """A hop declaring prefill gets the continuation as a prefill."""
    primary = Scripted([*cut("Part one"), ConnectionResetError()], name="p")
    backup = Scripted(ok(", part two"), name="b")
    run = drive(chain(primary, Hop(backup, name="b", continuation="prefill")))
    assert run.text == "Part one, part two"
    assert backup.calls[0].continuation is not None
    assert backup.calls[0].continuation.strategy == "prefill"


def test_usage_is_merged_across_hops(drive: Drive) -> None:
    """Usage from a failed hop and from the serving hop are summed; each hop's is kept."""
    primary = Scripted([Delta(text="a", usage=Usage(10, 1, 11)), ConnectionResetError()], name="p")
    backup = Scripted(ok("b", usage=Usage(12, 3, 15)), name="b")
    run = drive(chain(primary, backup))
    assert run.trace.usage == Usage(22, 4, 26)
    assert dict(run.trace.usage_by_hop) == {"p": Usage(10, 1, 11), "b": Usage(12, 3, 15)}
    assert all(d.usage is None for d in run.deltas), "usage is reported once, on the trace"


def test_served_model_is_the_hop_that_finished(drive: Drive) -> None:
    """The trace names the hop and model that finished the answer."""
    primary = Scripted(openai_error(401), name="p")
    backup = Scripted(ok("b"), name="b")
    built = Chain([Hop(primary, name="p", model="gpt-x"), Hop(backup, name="b", model="claude-y")])
    run = drive(built)
    assert (run.trace.served_by, run.trace.served_model) == ("b", "claude-y")
    assert run.trace.fell_back


def test_closing_the_stream_early_closes_the_hop_and_tries_no_other(drive: Drive) -> None:
    """A consumer that stops after one delta closes the upstream stream; nothing else is tried."""
    primary = Scripted(ok("one", "two", "three"), name="p")
    backup = Scripted(ok("b"), name="b")
    run = drive(chain(primary, backup), stop_after=1)
    assert [d.text for d in run.deltas] == ["one"]
    assert primary.closed == 1
    assert primary.finished == 0
    assert backup.calls == []
    assert [a.outcome for a in run.trace.attempts] == ["cancelled"]


class Sized(Scripted):
    """A scripted target that estimates every prompt at ``tokens`` tokens."""

    def __init__(self, *scripts: object, name: str, tokens: int) -> None:
        super().__init__(*scripts, name=name)  # type: ignore[arg-type]
        self.tokens = tokens

    def estimate_tokens(self, request: object) -> int:
        return self.tokens


def test_prompt_estimated_too_long_skips_the_hop_without_a_call(drive: Drive) -> None:
    """A hop whose declared window the prompt estimate exceeds is skipped, and says so."""
    events: list[object] = []
    small = Sized(ok("small"), name="small", tokens=9000)
    large = Sized(ok("large"), name="large", tokens=9000)
    built = Chain(
        [
            Hop(small, name="small", context_window=8000),
            Hop(large, name="large", context_window=128000),
        ],
        hooks=[events.append],
    )
    run = drive(built)
    assert run.text == "large"
    assert small.calls == []
    skipped = [e for e in events if type(e).__name__ == "HopSkipped"]
    assert [(e.hop, e.reason) for e in skipped] == [  # type: ignore[attr-defined]
        ("small", "prompt of ~9000 tokens exceeds its window")
    ]


def test_estimates_fitting_no_hop_are_ignored(drive: Drive) -> None:
    """If the estimate fits no hop, the chain is walked as usual: estimates can be wrong."""
    only = Sized(ok("answered"), name="only", tokens=50_000)
    run = drive(Chain([Hop(only, name="only", context_window=8000)]))
    assert run.text == "answered"


def test_a_long_retry_after_is_waited_on_the_chains_own_time(real_drive: Drive) -> None:
    """A 429 asking for 20 s (within max_retry_after) is retried on the same hop after 20 s of
    the chain's clock; with a fake clock and sleeper the test waits for nothing."""
    time = VirtualTime()
    primary = Scripted(openai_error(429, headers={"retry-after": "20"}), ok("ok"), name="p")
    built = Chain(
        [Hop(primary, name="p"), Hop(Scripted(ok("backup"), name="b"), name="b")],
        policy=Policy(max_retry_after=30),
        clock=time,
        sleep=time.sleep,
        sleep_async=time.sleep_async,
    )
    run = real_drive(built)
    assert run.text == "ok"
    assert time.slept == [20.0]
    assert [(a.hop, a.outcome, a.started) for a in run.trace.attempts] == [
        ("p", "failed", 0.0),
        ("p", "ok", 20.0),
    ]
    assert run.trace.latency == 20.0
