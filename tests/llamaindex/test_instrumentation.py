"""Instrumentation: a hop event per step under the call's span; standard events once a call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import root_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

from fallback_core import HopEnded, HopStarted
from llamaindex_fallback import FallbackHopEvent, FallbackLLM
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.fakes import ScriptedLLM, cut


class Collector(BaseEventHandler):
    """Keeps every event the root dispatcher hands it."""

    events: list[Any] = Field(default_factory=list)

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A handler on the root dispatcher for the length of one test."""
    handler = Collector()
    root_dispatcher.add_event_handler(handler)
    yield handler
    root_dispatcher.event_handlers.remove(handler)


def _own(events: list[Any], llm: FallbackLLM) -> list[Any]:
    return [e for e in events if getattr(e, "model_dict", {}).get("class_name") == "FallbackLLM"]


def test_a_hop_event_reaches_the_root_dispatcher_for_every_hop(
    drive: Drive, collector: Collector
) -> None:
    """Each attempt's start and end arrive as FallbackHopEvents carrying the core's record."""
    llm = FallbackLLM([ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")])

    drive.stream_chat(llm, user())

    hops = collector.of(FallbackHopEvent)
    ended = [e.record for e in hops if isinstance(e.record, HopEnded)]
    assert [(r.hop, r.outcome) for r in ended] == [("primary", "failed"), ("backup", "ok")]
    assert [e.record.hop for e in hops if isinstance(e.record, HopStarted)] == ["primary", "backup"]
    assert {e.kind for e in hops} >= {"hop_started", "hop_ended", "fallback_triggered"}
    assert {e.llm for e in hops} == {"fallback(primary, backup)"}


def test_hop_events_carry_the_span_of_the_call_that_started_them(
    drive: Drive, collector: Collector
) -> None:
    """A streaming call's hop events name the call's span, captured before its stream was read."""
    llm = FallbackLLM([ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")])

    drive.stream_chat(llm, user())

    (start,) = _own(collector.of(LLMChatStartEvent), llm)
    assert start.span_id is not None
    assert start.span_id.startswith("FallbackLLM.")
    assert {e.span_id for e in collector.of(FallbackHopEvent)} == {start.span_id}


def test_standard_llm_events_fire_once_per_call(drive: Drive, collector: Collector) -> None:
    """The FallbackLLM's own start and end events fire once, however many hops ran."""
    llm = FallbackLLM([ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")])

    response = drive.chat(llm, user())

    (start,) = _own(collector.of(LLMChatStartEvent), llm)
    ends = [e for e in collector.of(LLMChatEndEvent) if e.span_id == start.span_id]
    assert len(ends) == 1
    assert ends[0].response.message.content == response.message.content


def test_completion_events_fire_once_per_streamed_completion(
    drive: Drive, collector: Collector
) -> None:
    """A streamed completion emits one completion start and one end for the FallbackLLM."""
    llm = FallbackLLM([ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")])

    drive.stream_complete(llm, "Tell me.")

    (start,) = _own(collector.of(LLMCompletionStartEvent), llm)
    assert len([e for e in collector.of(LLMCompletionEndEvent) if e.span_id == start.span_id]) == 1


def test_inner_hops_emit_their_own_events_in_spans_under_the_call(
    drive: Drive, collector: Collector
) -> None:
    """Each hop attempt emits its own start event, in a span of its own, not the call's."""
    llm = FallbackLLM([ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")])

    drive.stream_chat(llm, user())

    starts = collector.of(LLMChatStartEvent)
    (own,) = _own(starts, llm)
    inner = [e for e in starts if e.model_dict.get("class_name") == "ScriptedLLM"]
    assert [e.model_dict["model_name"] for e in inner] == ["primary", "backup"]
    assert all(e.span_id != own.span_id for e in inner)


def test_hop_spans_are_children_of_the_call_span(drive: Drive) -> None:
    """A span handler sees each hop's span opened with the FallbackLLM call's span as parent."""
    spans = SimpleSpanHandler()
    root_dispatcher.add_span_handler(spans)
    try:
        llm = FallbackLLM([ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")])
        drive.stream_chat(llm, user())
    finally:
        root_dispatcher.span_handlers.remove(spans)

    every = spans.completed_spans + spans.dropped_spans
    (call,) = [s for s in every if s.id_.startswith("FallbackLLM.")]
    hops = [s for s in every if s.id_.startswith("ScriptedLLM.")]
    assert len(hops) == 2
    assert {s.parent_id for s in hops} == {call.id_}


def test_hop_events_serialise_to_json(drive: Drive, collector: Collector) -> None:
    """Every hop event, errors and categories included, dumps to JSON for exporters."""
    llm = FallbackLLM([ScriptedLLM(cut(3), model="primary"), ScriptedLLM(model="backup")])

    drive.stream_chat(llm, user())

    dumped = [json.loads(e.model_dump_json()) for e in collector.of(FallbackHopEvent)]
    failed = [d["record"] for d in dumped if d["kind"] == "hop_ended" and d["record"]["error"]]
    assert [(r["hop"], r["category"]) for r in failed] == [("primary", "connection")]
    assert failed[0]["error"].startswith("ConnectionResetError")
