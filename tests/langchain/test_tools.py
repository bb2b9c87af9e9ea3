"""Tools and structured output through the chain, each model bound its own way."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.runnables import Runnable, RunnableBinding
from langchain_core.tools import tool
from pydantic import BaseModel

from fallback_core import ConfigurationError
from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import KINDS, Call
from .fakes import ScriptedChatModel, ToolCall, ok, reporting
from .servers import OpenAIHops


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


class Weather(BaseModel):
    """A weather report."""

    city: str
    sunny: bool


class AnthropicStyle(ScriptedChatModel):
    """Formats bound tools the way Anthropic's API wants them."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        formatted = [
            {"name": t.name, "input_schema": t.args_schema.model_json_schema()} for t in tools
        ]
        return self.bind(tools=formatted, **kwargs)


def test_bind_tools_returns_a_binding_listing_the_tools_in_openai_form() -> None:
    """Agents that inspect ``model.kwargs["tools"]`` find OpenAI-style dicts."""
    model = FallbackChatModel(models=[ScriptedChatModel(ok("Hi."))])

    bound = model.bind_tools([get_weather], tool_choice="any")

    assert isinstance(bound, RunnableBinding)
    assert bound.kwargs["tools"][0]["function"]["name"] == "get_weather"
    assert bound.kwargs["tool_choice"] == "any"


def test_each_model_receives_tools_formatted_its_own_way(call: Call) -> None:
    """Every hop's own ``bind_tools`` formats the tools and the tool choice."""
    primary = ScriptedChatModel(ConnectionError("refused"))
    backup = AnthropicStyle(ok("Hi."))
    model = FallbackChatModel(models=reporting(primary, backup)).bind_tools(
        [get_weather], tool_choice="get_weather"
    )

    call(model, "Weather in Paris?")

    assert primary.calls[0].kwargs["tools"][0]["function"]["name"] == "get_weather"
    assert backup.calls[0].kwargs["tools"][0]["name"] == "get_weather"
    assert "input_schema" in backup.calls[0].kwargs["tools"][0]
    assert {hop.calls[0].kwargs["tool_choice"] for hop in (primary, backup)} == {"get_weather"}


def test_binding_tools_to_a_model_that_cannot_call_them_fails_at_once() -> None:
    """A hop without tool calling is reported when tools are bound, not mid-call."""
    model = FallbackChatModel(
        models=[ScriptedChatModel(ok("Hi.")), FakeListChatModel(responses=["x"])]
    )

    with pytest.raises(ConfigurationError, match="cannot call tools"):
        model.bind_tools([get_weather])


def test_tool_call_from_the_backup_arrives_parsed(call: Call) -> None:
    """A tool call made by the backup after the primary failed is whole in the answer."""
    primary = ScriptedChatModel(ConnectionError("refused"))
    backup = ScriptedChatModel(ok(ToolCall("get_weather", {"city": "Paris"})))
    model = FallbackChatModel(models=reporting(primary, backup)).bind_tools([get_weather])

    answer = call(model, "Weather in Paris?")

    assert [(c["name"], c["args"]) for c in answer.message.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert answer.message.invalid_tool_calls == []


def test_tool_call_cut_in_half_never_reaches_the_caller(streamed: Call) -> None:
    """A tool call broken off mid-arguments is not delivered; the backup's whole call is."""
    half = tool_call_chunk(name="get_weather", args='{"ci', id="call_1", index=0)
    primary = ScriptedChatModel([AIMessageChunk(content="", tool_call_chunks=[half])])
    backup = ScriptedChatModel(ok(ToolCall("get_weather", {"city": "Paris"}, id="call_2")))
    model = FallbackChatModel(models=reporting(primary, backup)).bind_tools([get_weather])

    answer = streamed(model, "Weather in Paris?")

    assert [(c["name"], c["args"]) for c in answer.message.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert answer.message.invalid_tool_calls == []


def run_structured(kind: str, runnable: Runnable[Any, Any], input: Any) -> Any:
    """The structured result of one call, the ``kind`` way (a stream yields it last)."""
    if kind == "invoke":
        return runnable.invoke(input)
    if kind == "stream":
        return list(runnable.stream(input))[-1]

    async def main() -> Any:
        if kind == "ainvoke":
            return await runnable.ainvoke(input)
        return [part async for part in runnable.astream(input)][-1]

    return asyncio.run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_parses_the_serving_models_tool_call(kind: str) -> None:
    """With function calling, the answer is parsed from the tool call of whoever served."""
    primary = ScriptedChatModel(ConnectionError("refused"))
    backup = ScriptedChatModel(ok(ToolCall("Weather", {"city": "Paris", "sunny": True})))
    structured = FallbackChatModel(models=reporting(primary, backup)).with_structured_output(
        Weather
    )

    result = run_structured(kind, structured, "Weather?")

    assert result == Weather(city="Paris", sunny=True)
    assert backup.calls[0].kwargs["tool_choice"] == "any"


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_parses_json_text(kind: str) -> None:
    """A model that answers in JSON text (json mode) is parsed from its text."""
    model = FallbackChatModel(
        models=reporting(ScriptedChatModel(ok('{"city": "Oslo",', ' "sunny": false}')))
    )

    result = run_structured(kind, model.with_structured_output(Weather, method="json_mode"), "hi")

    assert result == Weather(city="Oslo", sunny=False)


def test_structured_output_with_raw_keeps_the_message_and_any_parsing_error() -> None:
    """``include_raw=True`` returns the raw answer, and the parsing error instead of raising."""
    model = FallbackChatModel(models=reporting(ScriptedChatModel(ok("not json"))))

    result = model.with_structured_output(Weather, include_raw=True).invoke("hi")

    assert result["raw"].text == "not json"
    assert result["parsed"] is None
    assert result["parsing_error"] is not None


# -- over HTTP ------------------------------------------------------------------

WEATHER_JSON = '{"city": "Paris", "sunny": true}'


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """JSON answerers and a model that calls the Weather tool."""
    return {
        "json-primary": ModelScript(WEATHER_JSON),
        "json-backup": ModelScript(WEATHER_JSON),
        "caller": ModelScript("unused", tool_call=("Weather", {"city": "Paris", "sunny": True})),
        "caller-backup": ModelScript(
            "unused", tool_call=("Weather", {"city": "Paris", "sunny": True})
        ),
    }


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # inside langchain-openai
@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_structured_json_answer_comes_from_the_backup_when_the_primary_fails(
    fault_server: FaultServer, openai_hop: OpenAIHops, method: str
) -> None:
    """A JSON-mode or JSON-schema answer is served by the backup and parsed as the schema."""
    fault_server.set_fault("json-primary", Fault.reset_before_headers())
    hops: list[BaseChatModel | ChatHop] = [openai_hop("json-primary"), openai_hop("json-backup")]
    model = FallbackChatModel(models=hops)

    result = model.with_structured_output(Weather, method=method).invoke("Weather?")

    assert result == Weather(city="Paris", sunny=True)


def test_structured_json_answer_cut_mid_way_is_answered_again_by_the_backup(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """A JSON-schema answer cut mid-stream is redone whole by the backup, then parsed."""
    fault_server.set_fault("json-primary", Fault.cut_after(2))
    hops: list[BaseChatModel | ChatHop] = [openai_hop("json-primary"), openai_hop("json-backup")]
    model = FallbackChatModel(models=hops)

    result = model.with_structured_output(Weather, method="json_schema").invoke("Weather?")

    assert result == Weather(city="Paris", sunny=True)
    (redone,) = fault_server.attempts("json-backup")
    assert not redone.continuation  # the half object never reached the caller: redone whole


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # inside langchain-openai
@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_a_structured_json_stream_delivers_only_the_whole_valid_value(
    fault_server: FaultServer, openai_hop: OpenAIHops, method: str
) -> None:
    """Streamed, the cut primary's half object never shows; the parsed stream is the backup's."""
    fault_server.set_fault("json-primary", Fault.cut_after(3))
    model = FallbackChatModel(models=[openai_hop("json-primary"), openai_hop("json-backup")])
    structured = model.with_structured_output(Weather, method=method)

    parsed = list(structured.stream("Weather?"))

    assert parsed == [Weather(city="Paris", sunny=True)]


def test_structured_output_by_function_calling_over_http(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """Function calling through a failed primary parses the backup's tool call."""
    fault_server.set_fault("json-primary", Fault.server_error(503))
    model = FallbackChatModel(
        models=[openai_hop("json-primary"), openai_hop("caller")], backoff=lambda n: 0.0
    )

    result = model.with_structured_output(Weather, method="function_calling").invoke("Weather?")

    assert result == Weather(city="Paris", sunny=True)


def test_structured_tool_call_cut_mid_way_is_made_again_by_the_backup(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """By default (function calling) a structured answer cut mid-arguments is redone whole."""
    fault_server.set_fault("caller", Fault.cut_after(2))
    model = FallbackChatModel(models=[openai_hop("caller"), openai_hop("caller-backup")])

    result = model.with_structured_output(Weather).invoke("Weather?")

    assert result == Weather(city="Paris", sunny=True)
    (redone,) = fault_server.attempts("caller-backup")
    assert redone.outcome == "completed"
