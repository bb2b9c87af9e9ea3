"""OpenTelemetry traces for chains: a span per call, a child span per attempt.

Needs the ``otel`` extra (``pip install 'fallback-chain[otel]'``): only
opentelemetry-api at run time - set up the SDK and exporters as usual. Only
this module imports OpenTelemetry; ``import fallback_core`` never does.

    chain = Chain(hops, hooks=[OpenTelemetryHook(providers={"primary": "openai"})])

A call is an INTERNAL span ``fallback chain``, a child of the span current when
the call starts. Each attempt is a CLIENT span ``chat {model}`` beneath it,
current while the hop runs (so a provider SDK's own instrumentation nests under
it); a hedge's two racers are siblings.

Attempt spans follow the GenAI semantic conventions - ``gen_ai.operation.name``
(``"chat"``), ``gen_ai.request.model``, ``gen_ai.provider.name`` and the older
``gen_ai.system`` (from ``providers``), ``gen_ai.usage.input_tokens`` /
``output_tokens`` - and add ``fallback.hop``, ``.attempt``, ``.outcome``,
``.category``, ``.chunks``, ``.chars``, ``.time_to_first_token``; why the
attempt was made: ``fallback.trigger`` (``"retry"``, ``"fallback"``,
``"hedge"``) with ``fallback.reason`` (the failure's `Category`) and
``fallback.from_hop``; for a continuation ``fallback.continuation.strategy``,
``.chars_carried``, ``.overlap_trimmed`` and ``.seam_fix``. A failed attempt
records its exception and sets ``error.type`` and an ERROR status.

The call span carries ``gen_ai.operation.name``, ``gen_ai.request.model`` (the
first hop tried), ``gen_ai.response.model`` (the hop that served),
``fallback.call_id``, ``fallback.outcome`` (``"ok"``, ``"exhausted"``,
``"failed"``, ``"cancelled"``), ``fallback.served_by``, ``fallback.attempts``,
``gen_ai.response.finish_reasons`` and, where the policy prices the hops, the
call's ``fallback.cost`` (every priced attempt, failed ones included); retries,
fallbacks, skipped hops and hedges are events on it. Token usage sits on the
attempt spans only, where it was spent, so a backend summing
``gen_ai.usage.*`` over a trace counts it once.

Where a call ends: every call's last event is `CallEnded` - finished,
exhausted, raising a hop's own error, or abandoned by its caller - and the
call span ends there; the hook then forgets the call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ._events import (
    CallEnded,
    ChainExhausted,
    ContinuationJoined,
    Event,
    FallbackTriggered,
    HedgeStarted,
    HopEnded,
    HopSkipped,
    HopStarted,
    RetryScheduled,
)
from ._packages import needs_extra

with needs_extra("fallback_core.otel", "opentelemetry-api", "otel"):
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

__all__ = ["OpenTelemetryHook"]


class OpenTelemetryHook:
    """Traces each call through a chain as a span, with a child span per attempt.

    Pass it in ``Chain(hooks=[...])``. Spans come from ``tracer_provider`` (by
    default the global one). ``providers`` maps hop names to GenAI provider
    names (``"openai"``, ``"anthropic"``, ...) for ``gen_ai.provider.name``:
    the core does not know which provider a hop calls. One hook serves any
    number of chains, threads and tasks.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        providers: Mapping[str, str] | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._providers = dict(providers or {})
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> AbstractContextManager[None] | None:
        call = self._call(event.call_id)
        if isinstance(event, HopStarted):
            return self._started(call, event)
        if isinstance(event, HopEnded):
            self._ended(event.call_id, call, event)
        elif isinstance(event, ContinuationJoined):
            joined = call.open[event.hop]
            joined.set_attribute("fallback.continuation.overlap_trimmed", event.overlap_trimmed)
            if event.seam_fix is not None:
                joined.set_attribute("fallback.continuation.seam_fix", event.seam_fix)
        elif isinstance(event, RetryScheduled):
            reason = event.category.value
            call.why = {"fallback.trigger": "retry", "fallback.reason": reason}
            retry: dict[str, AttributeValue] = {
                "fallback.hop": event.hop,
                "fallback.attempt": event.attempt,
                "fallback.reason": reason,
                "fallback.retry.delay": event.delay,
            }
            if event.retry_after is not None:
                retry["fallback.retry.retry_after"] = event.retry_after
            call.span.add_event("fallback.retry", retry)
        elif isinstance(event, FallbackTriggered):
            reason = event.category.value
            call.why = {
                "fallback.trigger": "fallback",
                "fallback.reason": reason,
                "fallback.from_hop": event.from_hop,
            }
            call.span.add_event(
                "fallback.fallback",
                {
                    "fallback.from_hop": event.from_hop,
                    "fallback.to_hop": event.to_hop,
                    "fallback.reason": reason,
                    "error.type": _qualified_name(event.error),
                },
            )
        elif isinstance(event, HopSkipped):
            call.span.add_event(
                "fallback.skip",
                {
                    "fallback.hop": event.hop,
                    "fallback.reason": event.reason,
                    "fallback.reopens_in": event.reopens_in,
                },
            )
        elif isinstance(event, HedgeStarted):
            call.why = {"fallback.trigger": "hedge"}
            call.span.add_event(
                "fallback.hedge", {"fallback.hop": event.hop, "fallback.rival": event.rival}
            )
        elif isinstance(event, ChainExhausted):
            call.span.set_status(Status(StatusCode.ERROR, event.reason))
            call.span.set_attribute("fallback.partial_chars", event.partial_chars)
            call.exhausted = True
        elif isinstance(event, CallEnded):
            self._finish(event.call_id, call, event)
        return None

    def _call(self, call_id: str) -> _Call:
        with self._lock:
            call = self._calls.get(call_id)
        if call is None:  # a call's events arrive one at a time, so only this thread adds it
            span = self._tracer.start_span(
                "fallback chain",
                kind=SpanKind.INTERNAL,
                attributes={"fallback.call_id": call_id, "gen_ai.operation.name": "chat"},
            )
            call = _Call(span)
            with self._lock:
                self._calls[call_id] = call
        return call

    def _started(self, call: _Call, event: HopStarted) -> _Current:
        if call.attempts == 0 and event.model:
            call.span.set_attribute("gen_ai.request.model", event.model)
        call.attempts += 1
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "fallback.hop": event.hop,
            "fallback.attempt": event.attempt,
            **call.why,
        }
        call.why = {}
        if event.model:
            attributes["gen_ai.request.model"] = event.model
        provider = self._providers.get(event.hop)
        if provider:
            attributes["gen_ai.provider.name"] = attributes["gen_ai.system"] = provider
        if event.continuation:
            attributes["fallback.continuation.strategy"] = event.continuation
            attributes["fallback.continuation.chars_carried"] = event.chars_carried
        span = self._tracer.start_span(
            f"chat {event.model}" if event.model else "chat",
            context=call.context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        call.open[event.hop] = span
        return _Current(span)

    def _ended(self, call_id: str, call: _Call, event: HopEnded) -> None:
        span = call.open.pop(event.hop)
        span.set_attributes(
            {
                "fallback.outcome": event.outcome,
                "fallback.chunks": event.chunks,
                "fallback.chars": event.chars,
            }
        )
        if event.category is not None:
            span.set_attribute("fallback.category", event.category.value)
        if event.time_to_first_token is not None:
            span.set_attribute("fallback.time_to_first_token", event.time_to_first_token)
        usage = event.usage
        if usage is not None and usage.input_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
        if usage is not None and usage.output_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        if event.error is not None:
            span.record_exception(event.error)
            span.set_attribute("error.type", _qualified_name(event.error))
            span.set_status(
                Status(StatusCode.ERROR, f"{type(event.error).__name__}: {event.error}")
            )
        span.end()
        if event.outcome == "ok":
            call.span.set_attribute("fallback.served_by", event.hop)
            if event.model:
                call.span.set_attribute("gen_ai.response.model", event.model)

    def _finish(self, call_id: str, call: _Call, event: CallEnded) -> None:
        with self._lock:
            del self._calls[call_id]
        outcome = "exhausted" if call.exhausted else event.outcome
        if outcome == "failed" and event.error is not None:
            call.span.record_exception(event.error)
            call.span.set_attribute("error.type", _qualified_name(event.error))
            call.span.set_status(
                Status(StatusCode.ERROR, f"{type(event.error).__name__}: {event.error}")
            )
        if event.trace.finish_reason is not None:
            call.span.set_attribute("gen_ai.response.finish_reasons", [event.trace.finish_reason])
        if event.trace.cost is not None:
            call.span.set_attribute("fallback.cost", event.trace.cost)
        call.span.set_attributes({"fallback.outcome": outcome, "fallback.attempts": call.attempts})
        call.span.end()


class _Call:
    """One call in flight: its span, its attempts' open spans, why the next attempt is made."""

    __slots__ = ("attempts", "context", "exhausted", "open", "span", "why")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.open: dict[str, Span] = {}  # by hop: a call runs one attempt per hop at a time
        self.why: dict[str, AttributeValue] = {}
        self.attempts = 0
        self.exhausted = False


class _Current:
    """Makes an attempt's span current while its hop runs.

    The error the scope exits with is not recorded here but from `HopEnded`,
    which names its attempt. The scope is that attempt's alone: a hedge's
    outrun racer ending leaves the winner's span current.
    """

    __slots__ = ("_context", "_token")

    def __init__(self, span: Span) -> None:
        self._context = trace.set_span_in_context(span)

    def __enter__(self) -> None:
        self._token: Token[Context] = otel_context.attach(self._context)

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._token)


def _qualified_name(error: BaseException) -> str:
    """``error.type`` as OpenTelemetry spells exception types: ``module.Qualname``."""
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"
