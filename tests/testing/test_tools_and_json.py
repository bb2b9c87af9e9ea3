"""Requests that need more than the canonical text: tool calls built from schemas, and JSON."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from fallback_core.testing import Fault, FaultServer, ModelScript
from fallback_core.testing._answers import plan_reply
from fallback_core.testing._reading import FILLER, value_for

from .conftest import (
    HELLO,
    JOKE_JSON,
    PRIMARY_ANSWER,
    WEATHER_CALL,
    WEATHER_TOOL,
    Driver,
    Streamed,
)

MAGIC_TOOL = {
    "type": "function",
    "function": {
        "name": "magic_function",
        "description": "Apply a magic function to an input.",
        "parameters": {
            "type": "object",
            "properties": {"input": {"type": "integer", "exclusiveMinimum": -1000}},
            "required": ["input"],
        },
    },
}
MAGIC_PROMPT = [{"role": "user", "content": "What is magic_function(3)? Use the tool."}]
JOKE_SCHEMA = {
    "type": "object",
    "properties": {"setup": {"type": "string"}, "punchline": {"type": "string"}},
    "required": ["setup", "punchline"],
}
JOKE_FORMAT = {"type": "json_schema", "json_schema": {"name": "Joke", "schema": JOKE_SCHEMA}}
JOKE_PROMPT = [
    {
        "role": "user",
        "content": "Tell me a joke. Return a JSON with 'setup' and 'punchline' keys.",
    }
]


def streamed_call(seen: Streamed) -> tuple[str, str, list[str]]:
    """The name, whole arguments and argument fragments of the one tool call streamed."""
    deltas = [c.choices[0].delta.tool_calls for c in seen.chunks if c.choices]
    fragments = [call[0].function for call in deltas if call and call[0].function]
    name = fragments[0].name or ""
    pieces = [f.arguments or "" for f in fragments[1:]]
    return name, "".join(pieces), pieces


async def test_required_tool_choice_calls_the_first_tool_with_arguments_from_the_prompt(
    drive: Driver,
) -> None:
    """With tool_choice "required" a model without a scripted call calls the first tool itself."""
    tools = [MAGIC_TOOL, WEATHER_TOOL]
    completion = await drive.create(
        model="primary", messages=MAGIC_PROMPT, tools=tools, tool_choice="required"
    )
    seen = await drive.stream(
        model="primary", messages=MAGIC_PROMPT, tools=tools, tool_choice="required"
    )

    (call,) = completion.choices[0].message.tool_calls or []
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "magic_function",
        {"input": 3},
    )
    name, arguments, pieces = streamed_call(seen)
    assert (name, json.loads(arguments)) == ("magic_function", {"input": 3})
    assert len(pieces) > 1
    assert seen.finish_reason == "tool_calls"


async def test_named_tool_choice_calls_that_tool_with_the_quoted_text(drive: Driver) -> None:
    """A tool_choice naming a function gets a call to it; a string argument takes the quote."""
    prompt = [{"role": "user", "content": "What is the weather in 'Zürich' today?"}]
    choice = {"type": "function", "function": {"name": "get_weather"}}

    completion = await drive.create(
        model="backup", messages=prompt, tools=[MAGIC_TOOL, WEATHER_TOOL], tool_choice=choice
    )

    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Zürich"}
    assert "Zürich" in call.function.arguments  # sent as is, not as \\u escapes


async def test_auto_model_calls_a_tool_unasked_and_others_answer_in_words(
    drive: Driver,
) -> None:
    """Without a forcing tool_choice only a `tool_call="auto"` model calls a tool."""
    caller = await drive.create(model="caller", messages=MAGIC_PROMPT, tools=[MAGIC_TOOL])
    plain = await drive.create(model="primary", messages=MAGIC_PROMPT, tools=[MAGIC_TOOL])

    (call,) = caller.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"input": 3}
    assert plain.choices[0].message.content == PRIMARY_ANSWER


async def test_automatic_call_is_followed_by_the_answer_once_the_tool_result_is_in(
    drive: Driver,
) -> None:
    """After the tool result of its own call, an auto model answers with its canonical text."""
    first = await drive.create(model="caller", messages=MAGIC_PROMPT, tools=[MAGIC_TOOL])
    (call,) = first.choices[0].message.tool_calls or []
    turn: list[dict[str, Any]] = [
        *MAGIC_PROMPT,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "5"},
    ]

    answer = await drive.create(model="caller", messages=turn, tools=[MAGIC_TOOL])

    assert answer.choices[0].message.content == PRIMARY_ANSWER


async def test_tool_choice_none_gets_words_even_from_a_scripted_caller(drive: Driver) -> None:
    """tool_choice "none" forbids every call, scripted or automatic."""
    tooler = await drive.create(model="tooler", tools=[WEATHER_TOOL], tool_choice="none")
    caller = await drive.create(model="caller", tools=[WEATHER_TOOL], tool_choice="none")

    assert tooler.choices[0].message.content == "It is sunny in Paris today."
    assert caller.choices[0].message.content == PRIMARY_ANSWER


async def test_scripted_tool_call_wins_over_an_automatic_one(drive: Driver) -> None:
    """A model's scripted call is made even when tool_choice would force another tool."""
    choice = {"type": "function", "function": {"name": "magic_function"}}

    completion = await drive.create(
        model="tooler", tools=[MAGIC_TOOL, WEATHER_TOOL], tool_choice=choice
    )

    (call,) = completion.choices[0].message.tool_calls or []
    assert (call.function.name, json.loads(call.function.arguments)) == WEATHER_CALL


async def test_continuation_wins_over_an_automatic_tool_call(drive: Driver) -> None:
    """A request to continue the answer is continued, even by an auto model forced to call."""
    messages = [*HELLO, {"role": "assistant", "content": "The quick brown fox"}]

    completion = await drive.create(
        model="caller", messages=messages, tools=[MAGIC_TOOL], tool_choice="required"
    )

    assert completion.choices[0].message.content == PRIMARY_ANSWER[len("The quick brown fox") :]


async def test_tool_choice_naming_a_tool_not_offered_is_refused(
    drive: Driver, fault_server: FaultServer
) -> None:
    """Naming a function that is not among the tools gets OpenAI's 400, before any attempt."""
    choice = {"type": "function", "function": {"name": "nowhere"}}

    with pytest.raises(openai.BadRequestError) as caught:
        await drive.create(model="primary", tools=[WEATHER_TOOL], tool_choice=choice)

    assert caught.value.param == "tool_choice"
    assert fault_server.attempt_count() == 0


@pytest.mark.parametrize(
    ("field", "value"), [("tools", {"type": "function"}), ("response_format", "json")]
)
def test_malformed_tools_or_response_format_get_a_400(
    fault_server: FaultServer, field: str, value: object
) -> None:
    """Tools that are not a list of objects, or a response format that is no object, are refused."""
    body = {"model": "primary", "messages": HELLO, field: value}

    response = httpx.post(f"{fault_server.base_url}/chat/completions", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == field


async def test_automatic_tool_call_is_cut_mid_arguments_by_a_stream_fault(
    drive: Driver, fault_server: FaultServer
) -> None:
    """Faults strike automatic calls as any other reply: a cut leaves the arguments unfinished."""
    fault_server.set_fault("primary", Fault.cut_after(2))

    seen = await drive.stream(
        model="primary", messages=JOKE_PROMPT, tools=[_tool("Joke", JOKE_SCHEMA)], tool_choice="any"
    )

    _, arguments, pieces = streamed_call(seen)
    assert seen.error is not None
    assert seen.finish_reason is None
    assert len(pieces) == 1
    assert not arguments.endswith("}")


async def test_json_schema_response_format_gets_an_object_built_from_the_schema(
    drive: Driver,
) -> None:
    """A json_schema response format is answered with a JSON object, streamed word by word."""
    completion = await drive.create(model="primary", response_format=JOKE_FORMAT)
    seen = await drive.stream(model="primary", response_format=JOKE_FORMAT)

    expected = {"setup": FILLER, "punchline": FILLER}
    assert json.loads(completion.choices[0].message.content or "") == expected
    assert json.loads(seen.text) == expected
    assert len([c for c in seen.chunks if c.choices and c.choices[0].delta.content]) > 2


async def test_json_object_response_format_is_keyed_by_the_quoted_words(drive: Driver) -> None:
    """json_object mode answers with an object whose keys are the prompt's quoted words."""
    json_object = {"type": "json_object"}

    keyed = await drive.create(model="primary", messages=JOKE_PROMPT, response_format=json_object)
    bare = await drive.create(model="primary", response_format=json_object)

    assert json.loads(keyed.choices[0].message.content or "") == {
        "setup": FILLER,
        "punchline": FILLER,
    }
    assert json.loads(bare.choices[0].message.content or "") == {"answer": PRIMARY_ANSWER}


async def test_scripted_json_answer_wins_over_a_built_one(drive: Driver) -> None:
    """A model whose canonical answer is a JSON object answers JSON requests with it."""
    built = await drive.create(model="jsoner", response_format=JOKE_FORMAT)
    seen = await drive.stream(model="jsoner", response_format={"type": "json_object"})

    assert built.choices[0].message.content == JOKE_JSON
    assert seen.text == JOKE_JSON


async def test_json_answer_cut_mid_stream_is_continued_by_another_model(
    drive: Driver, fault_server: FaultServer
) -> None:
    """Built JSON depends only on the request, so a backup continues a primary's broken object."""
    fault_server.set_fault("primary", Fault.cut_after(2))
    json_object = {"type": "json_object"}
    cut = await drive.stream(model="primary", messages=JOKE_PROMPT, response_format=json_object)
    resumed = [
        *JOKE_PROMPT,
        {"role": "assistant", "content": cut.text},
        {"role": "user", "content": "Continue exactly where you stopped."},
    ]

    rest = await drive.stream(model="backup", messages=resumed, response_format=json_object)

    assert cut.error is not None
    assert json.loads(cut.text + rest.text) == {"setup": FILLER, "punchline": FILLER}
    assert [a.continuation for a in fault_server.attempts("backup")] == [True]


def test_values_follow_the_schema_and_the_prompt() -> None:
    """Each JSON-schema construct gets its value by the documented rule."""
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "name": {"type": "string"},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "either": {"type": ["null", "string"]},
            "place": {"$ref": "#/$defs/Place"},
        },
        "$defs": {
            "Place": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }

    value = value_for(schema, 'Book 2.5 rooms for "你好啊集团", page 7')

    assert value == {
        "count": 2,
        "ratio": 2.5,
        "name": "你好啊集团",
        "flag": True,
        "tags": [],
        "unit": "celsius",
        "maybe": 2,
        "either": "你好啊集团",
        "place": {"city": "你好啊集团"},
    }


def test_prompt_without_numbers_or_quotes_gets_zero_and_the_filler_word() -> None:
    """Numbers default to 0 and strings to `FILLER`; apostrophes inside words are no quotes."""
    schema = {"properties": {"n": {"type": "number"}, "s": {"type": "string"}}}

    assert value_for(schema, "What's the weather in it's v2 city?") == {"n": 0, "s": FILLER}


def test_recursive_schema_stops_at_the_repeated_reference() -> None:
    """A schema that refers to itself is expanded once, its repeat left null."""
    schema = {
        "$ref": "#/definitions/Node",
        "definitions": {
            "Node": {"type": "object", "properties": {"child": {"$ref": "#/definitions/Node"}}}
        },
    }

    assert value_for(schema, "") == {"child": None}


def test_schema_corners_get_the_plainest_value_that_fits() -> None:
    """Constants, nulls, schemas without a type and references that lead nowhere are handled."""
    schema = {
        "properties": {
            "kind": {"const": "report", "type": "string"},
            "nothing": {"type": "null"},
            "only_null": {"anyOf": [{"type": "null"}]},
            "untyped": {},
            "bare_object": {"type": "object"},
            "dangling": {"$ref": "#/$defs/Missing"},
            "remote": {"$ref": "https://example.com/schema.json"},
        }
    }

    assert value_for(schema, "") == {
        "kind": "report",
        "nothing": None,
        "only_null": None,
        "untyped": FILLER,
        "bare_object": {},
        "dangling": None,
        "remote": None,
    }


async def test_text_response_format_and_other_tool_kinds_leave_the_answer_alone(
    drive: Driver,
) -> None:
    """response_format "text" gets the canonical answer; only function tools are ever called."""
    text = await drive.create(model="primary", response_format={"type": "text"})
    reply = plan_reply(
        ModelScript("Hi."), HELLO, tools=[{"type": "web_search"}], tool_choice="required"
    )

    assert text.choices[0].message.content == PRIMARY_ANSWER
    assert (reply.text, reply.tool_call) == ("Hi.", None)


def test_model_script_refuses_an_unknown_tool_call_mode() -> None:
    """`tool_call` is a (name, arguments) pair, "auto" or None - nothing else."""
    with pytest.raises(ValueError, match="auto"):
        ModelScript("Hi.", tool_call="sometimes")  # type: ignore[arg-type]


def _tool(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}
