"""The decision engine: one call's walk along a chain, as a flow of commands.

`Walk.run` is the whole call as one generator, in the spirit of httpx's
``auth_flow``: it yields commands (see ``_steps``) and receives what the I/O
produced. It never performs I/O, sleeps or awaits; the drivers in ``_drive``
only carry its commands out, so every rule holds for both, on any clock.

The story of a call: try the current hop and pass its deltas through; when it
ends with a finish reason the call is done. When it fails, classify the failure
and look up its `Rule`: retry the same hop after a backoff (or the provider's
Retry-After, within the cap), move to the next hop, or raise. Any attempt made
after text reached the caller continues that text. A slow start may be hedged:
the next hop is raced against it (``_race``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import _events as events
from ._circuit import Admission, Verdict, outcome_of
from ._classify import Category, classify_error
from ._cost import tokens_written
from ._errors import (
    BadAnswerError,
    ChainExhaustedError,
    DeadlineExceededError,
    HopBugError,
    MalformedChunkError,
    SeamError,
    StreamTimeoutError,
    StreamTruncatedError,
)
from ._events import Event
from ._packages import packages_involved
from ._policy import Action, Backoff
from ._race import race
from ._route import Route
from ._steps import (
    END,
    PRIMARY,
    RIVAL,
    TIMED_OUT,
    Attempt,
    Command,
    Consult,
    Emit,
    Fail,
    Finish,
    Flow,
    Left,
    Live,
    Open,
    Racer,
    Read,
    SendReports,
    Sleep,
    Step,
    assemble,
    close,
)
from ._trace import AttemptRecord, ChainTrace
from ._types import AttemptOutcome, CallOutcome, Continuation, Delta, TimeoutPhase, ToolCallChunk
from .checks import Answer, AnswerCheck

if TYPE_CHECKING:
    from ._chain import Chain, Hop

__all__ = ["Walk"]

logger = logging.getLogger("fallback_core")

_call_ids = itertools.count(1)


class Walk:
    """One call's walk: which hop runs, what failed, what the caller has received."""

    def __init__(
        self,
        chain: Chain[Any],
        request: object = None,
        checks: Sequence[AnswerCheck] = (),
        clock: Callable[[], float] | None = None,
        *,
        whole: bool = False,
    ) -> None:
        self.chain = chain
        self._request = request
        self._whole = whole  # nobody reads the answer before it is complete
        self._checks = (*chain.policy.answer_checks, *checks)  # judge each finished answer
        self._holds = any(check.holds for check in self._checks)
        self.call_id = f"call-{next(_call_ids)}"
        self.clock = chain.clock if clock is None else clock
        self._started = self.clock()
        self._tries = 0  # attempts on the current hop
        self._total = 0
        self._no_prefill: set[str] = set()  # hops that rejected a prefill in this call
        self._live: Live | None = None
        self._rival: tuple[int, Live] | None = None  # a hedging attempt and its hop index
        self._next: Step | None = None
        self._admitted = False  # shared health admitted the hop about to be called
        self._records: list[AttemptRecord] = []
        self._verdicts: list[Verdict] = []  # attempts ended, not yet told to shared health
        self._events: list[Event] = []
        self._text: list[str] = []
        self._served: tuple[str | None, str | None] = (None, None)
        self._finish_reason: str | None = None
        self._route = Route(chain, request, self.call_id, self._events.append, lambda: self.text)
        self._index = self._route.first()

    # -- the call as commands ---------------------------------------------------

    def run(self) -> Flow:
        """The whole call: the commands a driver performs, ending when the call is over.

        It returns when the answer is complete and raises the call's error
        otherwise; thrown an exception (the caller left), it closes what is
        open, tells shared health and the hooks, and re-raises it. Closed
        instead (no driver is left), it only records the call as cancelled.
        """
        try:
            yield from self._steps()
        except GeneratorExit as exc:
            self._close_all()
            self._ended(exc)
            raise
        except BaseException as exc:
            yield from self._over(exc.exit if isinstance(exc, Left) else exc)
            raise
        yield from self._over(None)

    def _steps(self) -> Flow:
        while True:
            step = self.next_step()
            if self._events:
                yield Emit(self.drain())
            if isinstance(step, Finish):
                return
            if isinstance(step, Fail):
                raise step.error
            if isinstance(step, Consult):
                self._admit(step, (yield step))
            elif isinstance(step, Sleep):
                yield step
            else:
                yield from self._attempt(step)

    def _over(self, interrupted: BaseException | None) -> Flow:
        """Close the call: shared health hears what it has not yet, then `CallEnded`."""
        self._close_all()
        try:
            if self._verdicts:
                rest = Consult(self._take_verdicts(), ())
                self._admit(rest, (yield rest))
        except GeneratorExit:
            self._ended(interrupted)
            raise
        except BaseException:  # the caller was cancelled again meanwhile: the call still ends
            self._ended(interrupted)
            yield Emit(self.drain())
            raise
        self._ended(interrupted)
        yield Emit(self.drain())

    def _attempt(self, step: Attempt) -> Flow:
        """One attempt: its streams are closed whatever happens, then it is judged."""
        opened: list[Racer] = []
        try:
            failure = yield from self._stream(step, opened)
        except GeneratorExit:  # closed: no driver is left to close the streams
            raise
        except BaseException:
            yield from close(opened)
            raise
        unclosed = yield from close(opened)
        live = self._require_live()
        if failure is None and unclosed is not None and live.finish_reason is None:
            failure = unclosed  # a stream that failed to close did not end cleanly either
        elif unclosed is not None:
            name = _name(live.hop)
            logger.debug("fallback_core: closing %s's stream failed", name, exc_info=unclosed)
        if failure is not None:
            self.fail(failure)
        elif (tail := self._end()) is not None:
            yield tail

    def _stream(
        self, step: Attempt, opened: list[Racer]
    ) -> Generator[Command, Any, BaseException | None]:
        """Pass the attempt's deltas on; return the error that ended it (None: it ended)."""
        live = self._require_live()
        racing = step.hedge_after is not None
        timed = live.hop.time_limited or self.chain.policy.deadline is not None
        error: BaseException | None = yield Open(
            PRIMARY, step, None if racing else self.send_reports, timed, racing
        )
        if error is not None:
            return error
        opened.append(PRIMARY)
        tag, raced = PRIMARY, list[Any]()  # what the race's winner produced while racing
        if step.hedge_after is not None:
            won = yield from race(self, step.hedge_after, opened)
            if isinstance(won, BaseException):
                return won
            tag, raced = won
            live = self._require_live()
        read = Read((tag,), lambda: self.wait(live))
        idle_limited = live.hop.idle_timeout is not None
        while True:
            if raced:
                delta = raced.pop(0)
            else:
                got = yield read
                if got is TIMED_OUT:
                    expired = self.expired(live)
                    if expired is None:
                        continue  # a report moved the limit after the wait ran out: wait on
                    return expired
                _, delta, error = got
                if error is not None:
                    if not isinstance(error, Exception):
                        raise error
                    return error
            if delta is END:
                return None
            try:
                out = self.accept(delta)
            except Exception as exc:
                return exc
            if self._events:  # hooks hear of a seam before its text
                yield Emit(self.drain())
            if out is not None:
                yield out
                if idle_limited:  # the idle wait counts from when the caller asks again
                    live.last_chunk_at = self.clock()

    # -- the walk's steps -------------------------------------------------------

    def next_step(self) -> Step:
        """The next thing to do; terminal steps are returned again if asked twice."""
        step = self._next
        if isinstance(step, (Finish, Fail)):
            return step
        if isinstance(step, Sleep) and self._verdicts:  # others learn of it before we sleep
            return Consult(self._take_verdicts(), ())
        self._next = None
        if step is not None:
            return step
        policy = self.chain.policy
        if policy.deadline is not None and self._elapsed() >= policy.deadline:
            return self._exhaust("the call's deadline passed", DeadlineExceededError)
        if self._out_of_attempts():
            return self._exhaust(f"max_attempts={policy.max_attempts} reached")
        if not self._route.fits(self._index):  # a retry the call can no longer afford
            following = self._route.following(self._index)
            if following is None:
                return self._exhaust(f"no hop left within max_cost={policy.max_cost}")
            self._index, self._tries = following, 0
        if self.chain.health is not None and not self._admitted:
            return self._route.consultation(self._index, self._take_verdicts())
        self._admitted = False
        hop = self.chain.hops[self._index]
        text = self.text
        cont = None
        if text.strip():
            cap = getattr(hop.target, "max_output_tokens", None)
            limit = None if cap is None else cap(self._request)
            left = None if limit is None else limit - tokens_written(self._records)
            if left is not None and left <= 0:  # the answer fills the caller's token cap
                wrote = [record for record in self._records if record.chars][-1]
                self._served, self._finish_reason = (wrote.hop, wrote.model), "length"
                self._next = Finish()
                return self._next
            strategy = "instruct" if hop.name in self._no_prefill else hop.continuation
            cont = Continuation(text, strategy, self.chain.continue_instruction, left)
        self._tries += 1
        self._total += 1
        live = self._live = Live(hop, self._tries, self.clock(), cont)
        if policy.deadline is not None:
            live.share = self._share(policy.deadline)
        self._events.append(
            events.HopStarted(
                self.call_id,
                _name(hop),
                hop.model,
                self._tries,
                cont.strategy if cont else None,
                len(text),
            )
        )
        hedge_after = policy.hedge_after
        if text or self._out_of_attempts() or self._route.following(self._index) is None:
            hedge_after = None
        # A whole reply when nothing needs the stream: no first-token or idle limit
        # to watch, no hedge to race. A reply that breaks then leaves nothing to
        # continue from, and only the attempt's timeout and the deadline bound it.
        live.whole = (
            self._whole
            and hedge_after is None
            and hop.first_token_timeout is None
            and hop.idle_timeout is None
            and callable(getattr(hop.target, "reply", None))
        )
        return Attempt(hop, self._tries, cont, hedge_after, live.whole)

    def _admit(self, consult: Consult, admission: Admission) -> None:
        """Shared health answered ``consult``: the hop it admitted (if any) is called next."""
        if admission.store_up is not None:
            self._events.append(
                events.HealthStoreChanged(self.call_id, admission.store_up, admission.store_error)
            )
        if consult.candidates:
            chosen = self._route.admitted(admission)
            if chosen != self._index:
                self._index, self._tries = chosen, 0
            self._admitted = True

    def hedge(self) -> Attempt | None:
        """Start the next hop beside the live one, which has produced no text yet (None: none)."""
        following = self._route.rival(self._index)
        if following is None:
            return None
        hop = self.chain.hops[following]
        self._total += 1
        self._rival = (following, Live(hop, 1, self.clock(), None))
        self._events += [
            events.HedgeStarted(
                self.call_id,
                _name(self._require_live().hop),
                _name(hop),
                self.chain.policy.hedge_after,
            ),
            events.HopStarted(self.call_id, _name(hop), hop.model, 1, None, 0),
        ]
        return Attempt(hop, 1, None)

    def racer(self, tag: Racer) -> Live:
        """The attempt a racer's stream belongs to (after a settled race, the one left)."""
        if tag is RIVAL and self._rival is not None:
            return self._rival[1]
        return self._require_live()

    def settle(self, rival_won: bool, loser_error: BaseException | None = None) -> None:
        """End a hedge: the winner becomes the live attempt; the loser, outrun or failed, ends."""
        assert self._rival is not None, "no hedge to settle"
        (index, rival), live, self._rival = self._rival, self._require_live(), None
        winner, self._live = (rival, live) if rival_won else (live, rival)
        if loser_error is None:
            self._close_live("hedge_lost", None, None)
        else:
            if not rival_won:
                self._route.failed.add(index)
            self._close_failed(self._live, loser_error)
        self._live = winner
        if rival_won:
            self._index, self._tries = index, 1

    # -- time limits --------------------------------------------------------------

    def pending(self, live: Live) -> tuple[TimeoutPhase, float, float] | None:
        """The limit the next read of ``live`` waits under: phase, seconds left, configured."""
        hop, now = live.hop, self.clock()
        limits: list[tuple[TimeoutPhase, float | None, float]] = [
            ("attempt", hop.timeout, live.started),
            ("deadline", self.chain.policy.deadline, self._started),
        ]
        if live.whole:
            pass  # a whole reply's first text is its last: only the limits above bound it
        elif live.first_token_at is None:
            if not live.queued:  # held while the client has not sent the request
                limits.append(("first_token", hop.first_token_timeout, live.sent_at))
            limits.append(("deadline_share", live.share, live.started))
        else:
            limits.append(("idle", hop.idle_timeout, live.last_chunk_at))
        best: tuple[TimeoutPhase, float, float] | None = None
        for phase, limit, since in limits:
            if limit is not None:
                left = max(0.0, limit - (now - since))
                if best is None or left < best[1]:
                    best = (phase, left, limit)
        return best

    def wait(self, live: Live) -> float | None:
        """Seconds the next read of ``live`` may wait (None: forever)."""
        pending = self.pending(live)
        return None if pending is None else pending[1]

    def expired(self, live: Live) -> StreamTimeoutError | None:
        """The error naming the limit a read of ``live`` has exceeded by now, if any."""
        pending = self.pending(live)
        if pending is None or pending[1] > 0:
            return None
        return StreamTimeoutError(pending[0], pending[2])

    def send_reports(self, changed: Callable[[], None] = lambda: None) -> SendReports:
        """Where the live attempt's client reports its request queued, then sent (``_sent``).

        A target that says it ``reports_requests`` is held until its client
        reports the request sent. ``changed`` runs after each report that moved a limit.
        """
        live = self._require_live()
        held = getattr(live.hop.target, "reports_requests", False) is True
        return SendReports(live, self.clock, changed, held=held)

    def _share(self, deadline: float) -> float | None:
        """The part of the deadline left that a new attempt may wait for its first text.

        Split evenly between it and each later place of the chain that could
        still be tried (deployments of one tier count once): two hops, 60 s
        left, the primary waits 30 s. None when no other place remains.
        """
        places = {self.chain.group_of[i] for i in self._route.after(self._index)}
        if not places:
            return None
        return max(0.0, deadline - self._elapsed()) / (1 + len(places))

    # -- what the hop produced ------------------------------------------------

    def accept(self, delta: object) -> Delta | None:
        """Take one delta from the live hop; return what the caller should receive.

        Text passes through (past the seam's short look-ahead on a
        continuation); tool-call fragments are held until the hop finishes, so
        a caller never sees half a tool call. Reasoning passes through at once,
        except from a hop continuing another's answer (see `Delta`).
        """
        live = self._require_live()
        if not isinstance(delta, Delta) or not isinstance(delta.text, str):
            raise MalformedChunkError(f"{_name(live.hop)} produced {type(delta).__name__}")
        live.chunks += 1
        if delta.usage is not None:
            live.usage = delta.usage if live.usage is None else live.usage + delta.usage
        thinks = bool(delta.reasoning or delta.signature)
        if thinks and live.continuation is not None:
            delta, thinks = replace(delta, reasoning="", signature=""), False
        if delta.text or delta.tool_calls or thinks or live.first_token_at is not None:
            live.last_chunk_at = self.clock()
            if live.first_token_at is None:
                live.first_token_at = live.last_chunk_at
        for part in delta.tool_calls:
            live.tool_parts.setdefault(part.index, []).append(part)
        text = delta.text
        if live.seam is not None and live.seam.open and text:
            text = live.seam.feed(text)
            if not live.seam.open:
                self._joined(live)
        if self._holds and text:  # a check needs the whole answer first
            live.held.append(text)
            text = ""
        if delta.finish_reason is not None:
            live.finish_reason = delta.finish_reason
            if not self._checks:  # with checks the answer is judged at the stream's end
                return self._release(live, text, delta)
        if not text and not thinks:
            return None
        return self._deliver(live, text, (), delta)

    def _release(self, live: Live, text: str, delta: Delta) -> Delta | None:
        """At the hop's finish: release what is held - by the seam, for a check, tool calls.

        A continuation that adds nothing is a `SeamError`; with checks, the
        answer is judged: `BadAnswerError` if one fails.
        """
        if live.seam is not None and live.seam.open:
            text += live.seam.flush()
            self._joined(live)
        text = "".join(live.held) + text
        live.held.clear()
        calls = tuple(assemble(parts) for _, parts in sorted(live.tool_parts.items()))
        live.tool_parts.clear()
        if live.seam is not None and not (text.strip() or calls or live.chars):
            raise SeamError("empty", f"{_name(live.hop)} finished without continuing the answer")
        if self._checks:
            answer = Answer(self.text + text, live.finish_reason, calls)
            for check in self._checks:
                why = check(answer)
                if why is not None:
                    raise BadAnswerError(why)
        if not text and not calls and not (delta.reasoning or delta.signature):
            return None
        return self._deliver(live, text, calls, delta)

    def _deliver(
        self, live: Live, text: str, calls: tuple[ToolCallChunk, ...], delta: Delta
    ) -> Delta:
        if text:
            live.chars += len(text)
            self._text.append(text)
        same = text == delta.text and calls == delta.tool_calls
        if same and delta.usage is None and delta.finish_reason is None:
            return delta
        return replace(delta, text=text, tool_calls=calls, usage=None, finish_reason=None)

    def _joined(self, live: Live) -> None:
        assert live.continuation is not None
        assert live.seam is not None
        result = live.seam_result = live.seam.result
        assert result is not None
        since = live.first_token_at if live.first_token_at is not None else live.started
        live.seam_held_for = self.clock() - since
        cont = live.continuation
        self._events.append(
            events.ContinuationJoined(
                self.call_id,
                _name(live.hop),
                cont.strategy,
                len(cont.text),
                result.overlap,
                result.fix,
                result.held,
                live.seam_held_for,
            )
        )

    def _end(self) -> Delta | None:
        """The live hop's stream ended without an error; return any last text to deliver."""
        live = self._require_live()
        if live.finish_reason is None and live.hop.require_finish:
            name = _name(live.hop)
            self.fail(StreamTruncatedError(f"stream from {name} ended without a finish reason"))
            return None
        tail = None
        try:
            if live.finish_reason is None or self._checks:  # what was held is released (or judged)
                tail = self._release(live, "", Delta())
        except (SeamError, BadAnswerError) as exc:
            self.fail(exc)
            return None
        self._close_live("ok", None, None)
        self._served = (live.hop.name, live.hop.model)
        self._finish_reason = live.finish_reason
        self._next = Finish()
        return tail

    def fail(self, exc: BaseException) -> None:
        """The live hop raised ``exc`` (or was judged failed); decide what comes next."""
        live = self._require_live()
        category, retry_after = self._close_failed(live, exc)
        rule = self.chain.policy.rule(category)
        hop, name = live.hop, _name(live.hop)
        # A hop that refused to continue a final assistant message, or answered it
        # with something else, is asked again with the instruct strategy: the
        # refusal is never the caller's error.
        refused = category in (Category.BAD_REQUEST, Category.SEAM) and bool(
            live.continuation and live.continuation.prefill
        )
        if refused:
            self._no_prefill.add(name)
            self._tries -= 1
            retry_after = None
        delay = 0.0 if refused else self._retry_delay(hop, rule.retries, retry_after)
        if delay is not None:
            self._events.append(
                events.RetryScheduled(
                    self.call_id, name, hop.model, live.number, delay, category, retry_after
                )
            )
            if not refused:
                self._next = Sleep(delay)
            return
        if rule.then is Action.RAISE:
            self._next = Fail(_bug(hop, exc) if category is Category.BUG else exc)
            return
        if category is Category.CONTEXT_LENGTH:
            self._route.larger_than = hop.context_window
        self._route.failed.add(self._index)
        following = self._route.following(self._index)
        if following is None:
            self._exhaust("every hop failed", cause=exc)
            return
        self._events.append(
            events.FallbackTriggered(
                self.call_id, name, _name(self.chain.hops[following]), category, exc
            )
        )
        self._index, self._tries = following, 0

    def _close_all(self) -> None:
        """The call is over: the attempts still open end as lost or cancelled."""
        if self._rival is not None:
            self.settle(rival_won=False)
        if self._live is not None:
            self._close_live("cancelled", None, None)

    def _ended(self, interrupted: BaseException | None) -> None:
        """Emit `CallEnded`, always the call's last event."""
        step = self._next
        outcome: CallOutcome
        if isinstance(step, Finish):
            outcome, error = "ok", None
        elif isinstance(step, Fail):
            outcome, error = "failed", step.error
        else:
            outcome, error = "cancelled", interrupted
        self._events.append(events.CallEnded(self.call_id, outcome, error, self.trace()))

    # -- what the caller can read ---------------------------------------------

    @property
    def text(self) -> str:
        """Everything the caller has received so far."""
        if len(self._text) > 1:
            self._text[:] = ["".join(self._text)]
        return self._text[0] if self._text else ""

    def drain(self) -> list[Event]:
        """Events produced since the last drain, oldest first."""
        drained, self._events[:] = self._events[:], []
        return drained

    def trace(self) -> ChainTrace:
        """A summary of the call so far."""
        return ChainTrace.of(self._records, self._served, self._elapsed(), self._finish_reason)

    # -- inside ---------------------------------------------------------------

    def _take_verdicts(self) -> tuple[Verdict, ...]:
        verdicts = tuple(self._verdicts)
        self._verdicts.clear()
        return verdicts

    def _require_live(self) -> Live:
        if self._live is None:
            raise RuntimeError("no attempt is in flight")
        return self._live

    def _elapsed(self) -> float:
        return self.clock() - self._started

    def _out_of_attempts(self) -> bool:
        limit = self.chain.policy.max_attempts
        return limit is not None and self._total >= limit

    def _retry_delay(self, hop: Hop[Any], retries: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retrying ``hop``; None if retrying is not allowed or worth it."""
        policy = self.chain.policy
        if self._tries > retries or self._out_of_attempts():
            return None
        if hop.max_attempts is not None and self._tries >= hop.max_attempts:
            return None
        if retry_after is not None:
            if retry_after > policy.max_retry_after:
                return None
            delay = retry_after
        else:
            backoff, tries = policy.backoff, self._tries
            wait = (
                backoff(tries, self.chain.rng) if isinstance(backoff, Backoff) else backoff(tries)
            )
            delay = max(0.0, float(wait))
        if policy.deadline is not None and self._elapsed() + delay >= policy.deadline:
            return None
        return delay

    def _close_failed(self, live: Live, exc: BaseException) -> tuple[Category, float | None]:
        """End ``live`` as failed with ``exc``; return its category and the Retry-After it gave.

        The user's classifier decides first. A programming error is a bug only
        before the request went out; once the provider answered, the client
        failed on what came back, so it is a malformed response like any other.
        """
        info = classify_error(exc)
        default = info.category
        if default is Category.BUG and (live.request_sent or live.chunks):
            default = Category.MALFORMED
        category = self.chain.policy.category_of(exc, default)
        self._close_live("failed", exc, category, info.retry_after)
        return category, info.retry_after

    def _close_live(
        self,
        outcome: AttemptOutcome,
        error: BaseException | None,
        category: Category | None,
        retry_after: float | None = None,
    ) -> None:
        live = self._require_live()
        self._live = None
        hop, seam = live.hop, live.seam_result
        price = self.chain.policy.price_of(hop)
        cost = None if price is None or live.usage is None else price.of(live.usage)
        if cost is not None:
            self._route.spent += cost
        record = AttemptRecord(
            hop=_name(hop),
            model=hop.model,
            attempt=live.number,
            outcome=outcome,
            category=category,
            error=error,
            started=live.started - self._started,
            elapsed=self.clock() - live.started,
            time_to_first_token=None
            if live.first_token_at is None
            else live.first_token_at - live.started,
            chunks=live.chunks,
            chars=live.chars,
            usage=live.usage,
            continuation=live.continuation.strategy if live.continuation else None,
            overlap_trimmed=seam.overlap if seam else 0,
            seam_fix=seam.fix if seam else None,
            cost=cost,
            seam_held=seam.held if seam else 0,
            seam_held_for=live.seam_held_for,
        )
        self._records.append(record)
        health = self.chain.health
        if health is not None:
            verdict = outcome_of(outcome == "ok", category)
            described = None if error is None else f"{type(error).__name__}: {error}"
            self._verdicts.append(
                Verdict(hop.circuit, verdict, health.clock(), described, retry_after)
            )
        self._events.append(events.HopEnded.of(self.call_id, record))

    def _exhaust(
        self,
        reason: str,
        kind: type[ChainExhaustedError] = ChainExhaustedError,
        cause: BaseException | None = None,
    ) -> Fail:
        text = self.text
        error = kind(self._records, partial_text=text, reason=reason)
        last = next((r.error for r in reversed(self._records) if r.error is not None), None)
        error.__cause__ = cause if cause is not None else last
        self._events.append(
            events.ChainExhausted(self.call_id, reason, tuple(self._records), len(text))
        )
        self._next = Fail(error)
        return self._next


def _name(hop: Hop[Any]) -> str:
    return hop.name or "?"


def _bug(hop: Hop[Any], exc: BaseException) -> HopBugError:
    packages, module = packages_involved(exc)
    error = HopBugError(_name(hop), exc, packages, module)
    error.__cause__ = exc
    return error
