"""FallbackChatModel over scripted chat models: the answer, its chunks and their metadata."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from fallback_core import Category, ChainExhaustedError, Policy, Rule
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import Call
from .fakes import Finish, ScriptedChatModel, cut, ok, reporting

MESSAGES = [SystemMessage("Be brief."), HumanMessage("Say hello.")]


def test_stream_cut_mid_answer_is_finished_by_next_model(call: Call) -> None:
    """A stream that dies mid-answer is continued by the next model, nothing lost or repeated."""
    primary = ScriptedChatModel(cut("Hello", " there,"), model_name="p")
    backup = ScriptedChatModel(ok(" friend."), model_name="b")
    model = FallbackChatModel(models=reporting(primary, backup))

    answer = call(model, MESSAGES)

    assert answer.text == "Hello there, friend."
    assert answer.message.response_metadata["model_name"] == "b"


def test_continuation_resends_the_conversation_then_the_partial_answer(call: Call) -> None:
    """The next model gets the caller's messages unchanged, the partial answer, an instruction."""
    primary = ScriptedChatModel(cut("Hello", " there,"))
    backup = ScriptedChatModel(ok(" friend."))
    model = FallbackChatModel(models=reporting(primary, backup), continue_instruction="Go on.")

    call(model, MESSAGES)

    sent = backup.calls[0].messages
    assert sent[:2] == MESSAGES
    assert sent[2:] == [AIMessage("Hello there,"), HumanMessage("Go on.")]


def test_prefill_model_continues_its_own_final_assistant_message(call: Call) -> None:
    """A hop set to prefill gets the partial answer as the last message, with no instruction."""
    primary = ScriptedChatModel(cut("Hello", " there,"))
    backup = ScriptedChatModel(ok(" friend."))
    model = FallbackChatModel(
        models=[
            ChatHop(primary, require_finish=True),
            ChatHop(backup, require_finish=True, continuation="prefill"),
        ]
    )

    call(model, MESSAGES)

    assert backup.calls[0].messages == [*MESSAGES, AIMessage("Hello there,")]


def test_error_before_first_token_moves_to_next_model(call: Call) -> None:
    """A model that fails before any text is replaced by the next one, which answers afresh."""
    primary = ScriptedChatModel(ConnectionError("refused"))
    backup = ScriptedChatModel(ok("Hello", " world."), model_name="b")
    model = FallbackChatModel(models=reporting(primary, backup))

    answer = call(model, MESSAGES)

    assert answer.text == "Hello world."
    assert backup.calls[0].messages == MESSAGES


def test_final_chunk_alone_carries_position_usage_and_metadata(streamed: Call) -> None:
    """Exactly one chunk is last; it alone has usage and response metadata."""
    primary = ScriptedChatModel(cut("Hello", " there,"))
    backup = ScriptedChatModel(ok(" friend.", usage=(7, 3)), model_name="b")
    model = FallbackChatModel(models=reporting(primary, backup))

    chunks = streamed(model, MESSAGES).chunks

    assert [c.chunk_position for c in chunks].count("last") == 1
    assert chunks[-1].chunk_position == "last"
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    assert [c for c in chunks if c.response_metadata.get("model_name")] == [chunks[-1]]


def test_usage_is_summed_over_every_attempt(call: Call) -> None:
    """Tokens a failed attempt reported count with the serving model's."""
    primary = ScriptedChatModel(["Hel", Finish("stop", (5, 1)), ConnectionError("reset")])
    backup = ScriptedChatModel(ok("lo.", usage=(7, 3)))
    model = FallbackChatModel(models=reporting(primary, backup))

    usage = call(model, MESSAGES).message.usage_metadata

    assert usage is not None
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (12, 4, 16)


def test_trace_in_response_metadata_names_every_attempt(call: Call) -> None:
    """``response_metadata["fallback"]`` records each attempt and who served."""
    primary = ScriptedChatModel(ConnectionError("refused"))
    backup = ScriptedChatModel(ok("Hi."))
    model = FallbackChatModel(
        models=[
            ChatHop(primary, name="primary", require_finish=True),
            ChatHop(backup, name="backup", require_finish=True),
        ]
    )

    trace = call(model, MESSAGES).message.response_metadata["fallback"]

    assert trace["served_by"] == "backup"
    assert [(a["hop"], a["outcome"]) for a in trace["attempts"]] == [
        ("primary", "failed"),
        ("backup", "ok"),
    ]
    assert trace["attempts"][0]["category"] == "connection"


def test_every_model_failing_raises_chain_exhausted(call: Call) -> None:
    """When no model finishes the answer the call raises, naming every attempt."""
    model = FallbackChatModel(
        models=reporting(
            ScriptedChatModel(ConnectionError("one")), ScriptedChatModel(ConnectionError("two"))
        )
    )

    with pytest.raises(ChainExhaustedError) as raised:
        call(model, MESSAGES)

    assert len(raised.value.attempts) == 2


def test_call_options_and_stop_reach_every_model_unchanged(call: Call) -> None:
    """Per-call kwargs and stop sequences are passed to each model as given."""
    primary = ScriptedChatModel(ConnectionError("refused"))
    backup = ScriptedChatModel(ok("Hi."))
    model = FallbackChatModel(models=reporting(primary, backup)).bind(temperature=0.2, seed=7)

    call(model, MESSAGES, stop=["END"])

    for hop in (primary, backup):
        assert hop.calls[0].kwargs == {"temperature": 0.2, "seed": 7}
        assert hop.calls[0].stop == ["END"]


def test_model_without_finish_reason_is_complete_when_its_stream_ends(call: Call) -> None:
    """A model class not known to report a finish reason is not judged truncated."""
    model = FallbackChatModel(models=[ScriptedChatModel(cut("Hello."))])

    assert call(model, MESSAGES).text == "Hello."
    assert model.fallback_chain.hops[0].require_finish is False


def test_require_finish_override_treats_a_stream_without_one_as_cut(call: Call) -> None:
    """With ``require_finish=True`` a stream that just stops is continued by the next model."""
    primary = ScriptedChatModel(cut("Hello"))
    backup = ScriptedChatModel(ok(" again."))
    model = FallbackChatModel(models=reporting(primary, backup))

    assert call(model, MESSAGES).text == "Hello again."


def test_rate_limited_model_is_retried_by_the_chain_then_left(call: Call) -> None:
    """The policy's retries apply to a hop before the walk moves on."""

    class RateLimited(Exception):
        status_code = 429

    primary = ScriptedChatModel(RateLimited())
    backup = ScriptedChatModel(ok("Hi."))
    model = FallbackChatModel(
        models=reporting(primary, backup),
        rules={Category.RATE_LIMIT: Rule(retries=2)},
        backoff=lambda n: 0.0,
    )

    assert call(model, MESSAGES).text == "Hi."
    assert len(primary.calls) == 3


def test_max_retries_caps_attempts_on_each_model(call: Call) -> None:
    """``max_retries`` bounds the attempts one model gets, whatever the policy allows."""

    class Overloaded(Exception):
        status_code = 503

    primary = ScriptedChatModel(Overloaded())
    backup = ScriptedChatModel(ok("Hi."))
    model = FallbackChatModel(
        models=reporting(primary, backup),
        policy=Policy(rules={Category.SERVER: Rule(retries=5)}, backoff=lambda n: 0.0),
        max_retries=1,
    )

    call(model, MESSAGES)

    assert len(primary.calls) == 2
