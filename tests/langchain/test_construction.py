"""Building a FallbackChatModel: clear errors for bad input, and the package's surface."""

from __future__ import annotations

import typing

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

import langchain_fallback
from fallback_core import ConfigurationError, Policy
from langchain_fallback import ChatHop, FallbackChatModel, with_backups

from .fakes import ScriptedChatModel, ok


def a_model(name: str = "m") -> ScriptedChatModel:
    return ScriptedChatModel(ok("Hi."), model_name=name)


def test_empty_model_list_is_refused() -> None:
    """A chain needs at least one model."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[])

    assert raised.value.field == "models"


def test_missing_models_are_refused() -> None:
    """Leaving out ``models`` is the same mistake as an empty list."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel()

    assert raised.value.field == "models"


@pytest.mark.parametrize("bad", ["gpt-4o", 42, None])
def test_something_other_than_a_chat_model_is_refused_by_position(bad: object) -> None:
    """An item that is not a chat model is named by its index."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[a_model(), bad])

    assert raised.value.field == "models[1]"


def test_a_bound_model_is_refused_with_a_hint() -> None:
    """A model already bound to tools is not a chat model; the error says where to bind."""
    bound = a_model().bind_tools([])

    with pytest.raises(ConfigurationError, match="bind tools or options on the FallbackChatModel"):
        FallbackChatModel(models=[bound])


def test_chat_hop_without_a_chat_model_is_refused() -> None:
    """A ChatHop's model is checked like any other."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[ChatHop("gpt-4o")])  # type: ignore[arg-type]

    assert raised.value.field == "models[0].model"


def test_model_containing_itself_is_refused() -> None:
    """Giving a FallbackChatModel itself as a model is refused, and leaves it unchanged."""
    model = FallbackChatModel(models=[a_model()])
    before = model.models

    with pytest.raises(ConfigurationError) as raised:
        model.models = (a_model(), model)

    assert raised.value.field == "models[1]"
    assert model.models == before


def test_cycle_through_a_nested_fallback_model_is_refused() -> None:
    """A chain reaching itself through a nested FallbackChatModel is refused."""
    inner = FallbackChatModel(models=[a_model("inner")])
    outer = FallbackChatModel(models=[inner, a_model("outer")])

    with pytest.raises(ConfigurationError, match="contains itself"):
        inner.models = (outer,)


def test_nested_fallback_model_is_a_hop_like_any_other() -> None:
    """A FallbackChatModel may be one model of another."""
    inner = FallbackChatModel(models=[a_model("inner")])
    outer = FallbackChatModel(models=[inner, a_model("outer")])

    assert outer.invoke("hi").text == "Hi."


def test_bad_hop_limit_is_named_by_model_position() -> None:
    """A hop setting the core refuses is reported against ``models[i]``."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[a_model(), ChatHop(a_model(), idle_timeout=-1)])

    assert raised.value.field == "models[1].idle_timeout"


def test_duplicate_hop_names_are_refused() -> None:
    """Two hops cannot share a name: traces would not tell them apart."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[ChatHop(a_model(), name="x"), ChatHop(a_model(), name="x")])

    assert raised.value.field == "models[1].name"


def test_same_model_twice_gets_numbered_hop_names() -> None:
    """Unnamed hops are named after their model, numbered when repeated."""
    model = a_model("gpt")

    chain = FallbackChatModel(models=[model, model]).fallback_chain

    assert [hop.name for hop in chain.hops] == ["gpt", "gpt#2"]


def test_policy_fields_may_be_given_as_keywords() -> None:
    """``deadline=`` and the other Policy fields build the model's policy."""
    model = FallbackChatModel(models=[a_model()], deadline=12.5, max_attempts=4)

    assert (model.policy.deadline, model.policy.max_attempts) == (12.5, 4)


def test_policy_and_its_fields_together_are_refused() -> None:
    """Either a Policy or its fields as keywords, not both."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[a_model()], policy=Policy(), deadline=3)

    assert raised.value.field == "policy"


def test_bad_policy_value_is_refused_with_its_field() -> None:
    """A policy keyword the core refuses keeps its own field name."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[a_model()], deadline=-1)

    assert raised.value.field == "deadline"


def test_misspelt_option_is_refused_naming_the_closest() -> None:
    """A misspelt option (idle_timout) is an error suggesting idle_timeout, not a warning."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[a_model()], idle_timout=20)

    error = raised.value
    assert error.field == "idle_timout"
    assert error.problem.startswith(
        "unknown option of FallbackChatModel 'idle_timout' (did you mean 'idle_timeout' or"
    )
    assert error.suggestions[0] == "idle_timeout"
    assert "first_token_timeout" in error.expected


def test_provider_options_are_refused_saying_where_they_belong() -> None:
    """An option that belongs on the hop models (an API key) is refused with where to put it."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[a_model()], api_key="sk-test")

    assert raised.value.field == "api_key"
    assert "belong on each model" in raised.value.problem


def test_a_single_model_instead_of_a_list_is_refused() -> None:
    """models= given one model says a list was expected, primary first."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=a_model())

    assert (raised.value.field, raised.value.problem) == (
        "models",
        "got a single ScriptedChatModel",
    )
    assert "a list of models" in raised.value.expected


def test_a_function_instead_of_a_list_of_hooks_is_refused() -> None:
    """hooks= given a function says a list of hooks was expected."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=[a_model()], hooks=print)

    assert (raised.value.field, raised.value.problem) == ("hooks", "got a single hook")
    assert raised.value.expected == "a list of hooks, e.g. hooks=[hook]"


def test_changing_a_limit_rebuilds_the_chain() -> None:
    """Assigning a chain setting takes effect on the next call, validated first."""
    model = FallbackChatModel(models=[a_model()])

    model.idle_timeout = 2.0
    assert model.fallback_chain.hops[0].idle_timeout == 2.0

    with pytest.raises(ConfigurationError):
        model.idle_timeout = -2.0
    assert model.idle_timeout == 2.0


def test_with_backups_puts_the_primary_first() -> None:
    """``with_backups(primary, *backups)`` is a FallbackChatModel in that order."""
    model = with_backups(a_model("p"), a_model("b1"), a_model("b2"), deadline=30)

    assert [hop.name for hop in model.fallback_chain.hops] == ["p", "b1", "b2"]
    assert model.policy.deadline == 30


def test_class_defaults_choose_continuation_and_finish_requirement() -> None:
    """Anthropic and Ollama models continue by prefill; OpenAI models are instructed to."""
    anthropic_like = type("ChatAnthropic", (ScriptedChatModel,), {})
    ollama_like = type("ChatOllama", (ScriptedChatModel,), {})
    openai = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url="http://127.0.0.1:9/v1")

    models = [openai, anthropic_like(ok("Hi.")), ollama_like(ok("Hi."))]
    hops = FallbackChatModel(models=models).fallback_chain.hops

    assert (hops[0].continuation, hops[0].require_finish) == ("instruct", True)
    assert [hop.continuation for hop in hops[1:]] == ["prefill", "prefill"]


def test_chat_hop_overrides_class_defaults() -> None:
    """A ChatHop's own continuation and require_finish win over the class defaults."""
    openai = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url="http://127.0.0.1:9/v1")

    hop, vllm = FallbackChatModel(
        models=[
            ChatHop(openai, continuation="prefill", require_finish=False),
            ChatHop(openai, continuation="continue_final_message"),
        ]
    ).fallback_chain.hops

    assert (hop.continuation, hop.require_finish) == ("prefill", False)
    assert vllm.continuation == "continue_final_message"


def test_an_unknown_continuation_is_refused_naming_the_strategies() -> None:
    """A misspelt strategy is a ConfigurationError at construction listing the valid ones."""
    openai = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url="http://127.0.0.1:9/v1")

    with pytest.raises(ConfigurationError, match="continue_final_message") as caught:
        FallbackChatModel(models=[ChatHop(openai, continuation="vllm")])  # type: ignore[arg-type]
    assert caught.value.field == "models[0].continuation"


def test_ls_params_report_the_primary_and_a_per_call_model() -> None:
    """Tracing params name the primary's provider and model, or the model a call asks for."""
    openai = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url="http://127.0.0.1:9/v1")
    model = FallbackChatModel(models=[openai, a_model()])

    params = model._get_ls_params()
    assert (params["ls_provider"], params["ls_model_name"]) == ("openai", "gpt-4o-mini")
    assert params["ls_model_type"] == "chat"
    assert model._get_ls_params(model="other")["ls_model_name"] == "other"


def test_public_annotations_resolve_at_runtime() -> None:
    """Tools that read signatures (agents, schema builders) can resolve every annotation."""
    for method in ("bind_tools", "with_structured_output", "stream", "astream", "_stream"):
        typing.get_type_hints(getattr(FallbackChatModel, method))
    typing.get_type_hints(with_backups)


def test_exported_names_are_sorted_and_complete() -> None:
    """``__all__`` is sorted and lists every public name the package defines."""
    exported = langchain_fallback.__all__
    public = {
        name
        for name, value in vars(langchain_fallback).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("langchain_fallback")
    }
    assert exported == sorted(exported)
    assert set(exported) == public


def test_is_a_chat_model() -> None:
    """It can stand wherever LangChain expects a chat model."""
    assert isinstance(FallbackChatModel(models=[a_model()]), BaseChatModel)
