"""The chain's telemetry as LlamaIndex instrumentation events.

Every event the core reports for a call - a hop attempt starting or ending, a
retry, a fallback, a continuation joined, the chain running out - is
dispatched as one `FallbackHopEvent` through ``llama_index.core.instrumentation``,
so a handler on the root dispatcher receives it. Its ``span_id`` is the span of
the `FallbackLLM` call, captured when the call was made: a streaming call's
span has ended by the time its stream is read.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from llama_index.core.instrumentation.events import BaseEvent
from llama_index_instrumentation import get_dispatcher
from pydantic import SkipValidation, field_serializer

from fallback_core import Event
from fallback_core._toolkit import event_kind, plain

__all__ = ["FallbackHopEvent", "HopEventDispatch"]

dispatcher = get_dispatcher(__name__)


class FallbackHopEvent(BaseEvent):
    """One step of a `FallbackLLM` call, as recorded by the chain.

    ``record`` is the core's own frozen event (``fallback_core.HopStarted``,
    ``HopEnded``, ``RetryScheduled``, ``FallbackTriggered``,
    ``ContinuationJoined``, ``ChainExhausted``); ``kind`` names its type in
    snake case (``"hop_ended"``). ``llm`` is the `FallbackLLM`'s model name.
    """

    record: SkipValidation[Event]
    kind: str
    call_id: str
    llm: str

    @classmethod
    def class_name(cls) -> str:
        return "FallbackHopEvent"

    @field_serializer("record", when_used="json")
    def _record_as_json(self, record: Event) -> Any:
        """In JSON the record is plain data: errors as "Type: message", categories as values."""
        return plain(record)


class HopEventDispatch:
    """A per-call hook that dispatches each core event under the call's span."""

    __slots__ = ("_llm", "_span_id")

    def __init__(self, llm: str, span_id: str | None) -> None:
        self._llm = llm
        self._span_id = span_id

    def __call__(self, event: Event, /) -> AbstractContextManager[Any] | None:
        dispatcher.event(
            FallbackHopEvent(
                record=event,
                kind=event_kind(event),
                call_id=getattr(event, "call_id", ""),
                llm=self._llm,
                span_id=self._span_id,
            )
        )
        return None
