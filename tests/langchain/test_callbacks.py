"""What the caller's callbacks see: one chat-model run, each token once, every hop event."""

from __future__ import annotations

import asyncio
import json
import operator
from typing import Annotated, Any, TypedDict
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from langgraph.graph import END, START, StateGraph

from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import Call, run_call
from .fakes import ScriptedChatModel, cut, ok

HOP_EVENTS = ("fallback.hop_started", "fallback.hop_ended", "fallback.fallback_triggered")


class Recorder(BaseCallbackHandler):
    """Records the callbacks it receives, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, UUID, Any]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
    ) -> None:
        self.events.append(("start", run_id, kw.get("metadata")))

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kw: Any) -> None:
        self.events.append(("token", run_id, token))

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append(("custom", run_id, (name, data)))

    def on_llm_end(self, response: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append(("end", run_id, None))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self.events.append(("error", run_id, error))

    def of(self, kind: str) -> list[Any]:
        return [payload for k, _, payload in self.events if k == kind]

    @property
    def run_ids(self) -> set[UUID]:
        return {run_id for _, run_id, _ in self.events}

    def hop_events(self) -> list[tuple[str, Any]]:
        return [(name, data) for name, data in self.of("custom") if name in HOP_EVENTS]


def failover_model(
    **options: Any,
) -> tuple[FallbackChatModel, ScriptedChatModel, ScriptedChatModel]:
    primary = ScriptedChatModel(cut("Hello", " there,"), model_name="p")
    backup = ScriptedChatModel(ok(" friend.", usage=(4, 2)), model_name="b")
    models = [
        ChatHop(primary, name="primary", require_finish=True),
        ChatHop(backup, name="backup", require_finish=True),
    ]
    return FallbackChatModel(models=models, **options), primary, backup


def test_caller_sees_one_chat_model_run_per_call(call: Call) -> None:
    """One ``on_chat_model_start`` and one ``on_llm_end``, whatever the hops did."""
    model, _, _ = failover_model()
    seen = Recorder()

    call(model, "hi", {"callbacks": [seen]})

    assert len(seen.of("start")) == 1
    assert len(seen.of("end")) == 1
    assert len(seen.run_ids) == 1


def test_each_token_reaches_the_caller_once(streamed: Call) -> None:
    """The tokens reported are exactly the chunks the caller received."""
    model, _, _ = failover_model()
    seen = Recorder()

    answer = streamed(model, "hi", {"callbacks": [seen]})

    assert seen.of("token") == [chunk.text for chunk in answer.chunks]
    assert "".join(seen.of("token")) == "Hello there, friend."


@pytest.mark.parametrize("kind", ["invoke", "ainvoke"])
def test_invoke_reports_tokens_once_when_streaming_is_asked(kind: str) -> None:
    """With ``streaming=True`` invoke reports each token once, and no hop run's tokens."""
    model, _, _ = failover_model(streaming=True)
    seen = Recorder()

    run_call(kind, model, "hi", {"callbacks": [seen]})

    assert "".join(seen.of("token")) == "Hello there, friend."
    assert len(seen.run_ids) == 1


def test_every_hop_event_arrives_as_a_custom_event_on_the_run(call: Call) -> None:
    """Each hop event is an ``on_custom_event`` on the caller's run, with JSON-friendly data."""
    model, _, _ = failover_model()
    seen = Recorder()

    call(model, "hi", {"callbacks": [seen]})

    events = seen.hop_events()
    assert [(name, data.get("hop", data.get("from_hop"))) for name, data in events] == [
        ("fallback.hop_started", "primary"),
        ("fallback.hop_ended", "primary"),
        ("fallback.fallback_triggered", "primary"),
        ("fallback.hop_started", "backup"),
        ("fallback.hop_ended", "backup"),
    ]
    ended = events[1][1]
    assert (ended["outcome"], ended["category"]) == ("failed", "truncated")
    assert len(seen.run_ids) == 1
    json.dumps([data for _, data in seen.of("custom")])


def test_hop_events_arrive_between_the_tokens_they_explain(streamed: Call) -> None:
    """The switch to the backup is reported after the primary's tokens and before the backup's."""
    model, _, _ = failover_model()
    seen = Recorder()

    streamed(model, "hi", {"callbacks": [seen]})

    order = [
        payload if kind == "token" else payload[0]
        for kind, _, payload in seen.events
        if kind == "token" or (kind == "custom" and payload[0] in HOP_EVENTS)
    ]
    assert order[: order.index(" friend.") + 1] == [
        "fallback.hop_started",
        "Hello",
        " there,",
        "fallback.hop_ended",
        "fallback.fallback_triggered",
        "fallback.hop_started",
        " friend.",
    ]


def test_exhausted_chain_is_reported_before_the_run_errors(call: Call) -> None:
    """When every hop fails the caller's run hears why, then ends in an error."""
    model = FallbackChatModel(models=[ScriptedChatModel(ConnectionError("down"))])
    seen = Recorder()

    with pytest.raises(Exception, match="every hop failed"):
        call(model, "hi", {"callbacks": [seen]})

    custom = seen.of("custom")
    assert [name for name, _ in custom][-2:] == ["fallback.chain_exhausted", "fallback.call_ended"]
    assert custom[-1][1]["outcome"] == "failed"
    assert [kind for kind, _, _ in seen.events][-1] == "error"


def test_hop_models_run_without_the_callers_callbacks(call: Call) -> None:
    """Every hop is called with an empty callback list, so its runs are invisible."""
    model, primary, backup = failover_model()
    seen = Recorder()

    call(model, "hi", {"callbacks": [seen]})

    for hop in (primary, backup):
        config = hop.calls[0].config
        assert config is not None
        assert config["callbacks"] == []


def test_tags_and_metadata_reach_every_hop(call: Call) -> None:
    """The caller's tags and metadata are passed to each hop unchanged."""
    model, primary, backup = failover_model()

    call(model, "hi", {"tags": ["checkout"], "metadata": {"user": "u1"}})

    for hop in (primary, backup):
        config = hop.calls[0].config
        assert config is not None
        assert "checkout" in config["tags"]
        assert config["metadata"]["user"] == "u1"


def test_run_configuration_reaches_every_hop(call: Call) -> None:
    """``configurable`` and the concurrency limit given by the caller reach each hop."""
    model, primary, backup = failover_model()

    call(model, "hi", {"configurable": {"user_id": "u1"}, "max_concurrency": 3})

    for hop in (primary, backup):
        config = hop.calls[0].config
        assert config is not None
        assert config["configurable"]["user_id"] == "u1"
        assert config["max_concurrency"] == 3


def test_hops_stay_isolated_inside_a_chain(call: Call) -> None:
    """Inside an LCEL chain the hops do not pick up the chain's callbacks either."""
    model, _, _ = failover_model()
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | model
    seen = Recorder()

    call(chain, {"question": "hi"}, {"callbacks": [seen]})

    assert len(seen.of("start")) == 1


def test_usage_callback_counts_each_call_once(call: Call) -> None:
    """``get_usage_metadata_callback`` sees the merged usage once, not each hop's as well."""
    model, _, _ = failover_model()

    with get_usage_metadata_callback() as usage:
        call(model, "hi")

    assert {name: u["total_tokens"] for name, u in usage.usage_metadata.items()} == {"b": 6}


def test_astream_events_show_one_model_run_and_the_hop_events() -> None:
    """Under astream_events: one model run, its tokens once, and the hop events."""
    model, _, _ = failover_model()

    async def collect() -> list[dict[str, Any]]:
        return [event async for event in model.astream_events("hi", version="v2")]

    events = asyncio.run(collect())

    kinds = [e["event"] for e in events]
    assert kinds.count("on_chat_model_start") == 1
    text = "".join(e["data"]["chunk"].text for e in events if e["event"] == "on_chat_model_stream")
    assert text == "Hello there, friend."
    custom = [e["name"] for e in events if e["event"] == "on_custom_event"]
    assert [name for name in custom if name in HOP_EVENTS] == [
        "fallback.hop_started",
        "fallback.hop_ended",
        "fallback.fallback_triggered",
        "fallback.hop_started",
        "fallback.hop_ended",
    ]
    run_id = events[0]["run_id"]
    assert {e["run_id"] for e in events if e["event"] == "on_custom_event"} == {run_id}


class _State(TypedDict):
    messages: Annotated[list[AnyMessage], operator.add]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_langgraph_message_stream_delivers_each_token_once(kind: str) -> None:
    """A LangGraph node calling the model streams each token once in ``stream_mode="messages"``."""
    model, _, _ = failover_model()

    def node(state: _State) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def anode(state: _State) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(_State)
    graph.add_node("agent", node if kind == "sync" else anode)
    graph.add_edge(START, "agent")
    graph.add_edge("agent", END)
    app = graph.compile()
    inputs = {"messages": [HumanMessage("hi")]}

    async def astream() -> list[Any]:
        return [part async for part in app.astream(inputs, stream_mode="messages")]

    parts = (
        list(app.stream(inputs, stream_mode="messages"))
        if kind == "sync"
        else asyncio.run(astream())
    )

    assert "".join(message.text for message, _ in parts) == "Hello there, friend."
    assert len({message.id for message, _ in parts}) == 1


class TreeTracer(BaseTracer):
    """A tracer keeping the finished run trees."""

    def __init__(self) -> None:
        super().__init__()
        self.roots: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)


def test_nested_runs_show_each_attempt_to_tracers_only(call: Call) -> None:
    """With ``nested_runs`` tracers see each attempt as a child run; tokens still come once."""
    model, _, _ = failover_model(nested_runs=True)
    tracer, seen = TreeTracer(), Recorder()

    call(model, "hi", {"callbacks": [tracer, seen]})

    (root,) = tracer.roots
    assert [child.name for child in root.child_runs] == ["primary", "backup"]
    assert len(seen.of("start")) == 1
    assert len(seen.run_ids) == 1


def test_without_nested_runs_tracers_see_one_run(call: Call) -> None:
    """By default a tracer records the one run, with no hop runs under it."""
    model, _, _ = failover_model()
    tracer = TreeTracer()

    call(model, "hi", {"callbacks": [tracer]})

    (root,) = tracer.roots
    assert root.child_runs == []


def test_closing_a_stream_early_reports_the_cancelled_attempt_within_the_run() -> None:
    """A caller who stops reading hears that the live attempt was cancelled, then the run ends."""
    model, _, _ = failover_model()
    seen = Recorder()

    stream = model.stream("hi", config={"callbacks": [seen]})
    next(stream)
    stream.close()

    hop_ended, call_ended, ended = seen.events[-3:]
    assert [hop_ended[0], call_ended[0]] == ["custom", "custom"]
    assert (hop_ended[2][0], hop_ended[2][1]["outcome"]) == ("fallback.hop_ended", "cancelled")
    assert (call_ended[2][0], call_ended[2][1]["outcome"]) == ("fallback.call_ended", "cancelled")
    assert ended[0] == "error"


def test_closing_an_async_stream_early_reports_nothing_after_the_run_ends() -> None:
    """An async caller who stops reading gets no hop event once its run has ended."""
    model, _, _ = failover_model()
    seen = Recorder()

    async def read_one_chunk() -> None:
        stream = model.astream("hi", config={"callbacks": [seen]})
        await anext(stream)
        await stream.aclose()
        for _ in range(3):  # let finalizers and any straggling dispatch run
            await asyncio.sleep(0)

    asyncio.run(read_one_chunk())

    assert [kind for kind, _, _ in seen.events][-1] == "error"
