"""Building a FallbackLLM: what it reports about its chain, and the errors bad input gets."""

from __future__ import annotations

import warnings

import pytest
from llama_index.core import MockEmbedding
from llama_index.core.llms import MockLLM

from fallback_core import ConfigurationError, Policy
from llamaindex_fallback import FallbackLLM, FunctionCallingWarning, InnerRetriesWarning, LLMHop
from tests.llamaindex.fakes import ScriptedLLM


def test_metadata_is_what_every_hop_can_serve() -> None:
    """The context window is the smallest, num_output the largest, flags hold for all hops."""
    llm = FallbackLLM(
        [
            ScriptedLLM(model="big", context_window=128_000, num_output=1024),
            ScriptedLLM(model="small", context_window=16_000, num_output=4096),
        ]
    )

    meta = llm.metadata
    assert (meta.context_window, meta.num_output) == (16_000, 4096)
    assert meta.is_chat_model
    assert meta.is_function_calling_model
    assert meta.model_name == "fallback(big, small)"


def test_one_hop_without_function_calling_makes_the_chain_not_function_calling() -> None:
    """is_function_calling_model is true only if every hop is; a warning names the hop and fix."""
    with pytest.warns(FunctionCallingWarning) as caught:
        llm = FallbackLLM([ScriptedLLM(model="a"), ScriptedLLM(model="b", function_calling=False)])

    assert not llm.metadata.is_function_calling_model
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith("b (ScriptedLLM): not a function-calling model")
    assert "FunctionAgent refuses it" in message
    assert "is_function_calling_model=True" in message


def test_a_chain_of_only_plain_llms_is_not_warned_about() -> None:
    """A chain with no function-calling hop at all is simply not one: no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        llm = FallbackLLM([ScriptedLLM(model="a", function_calling=False)])
    assert not llm.metadata.is_function_calling_model


def test_misspelt_option_is_refused_naming_the_closest() -> None:
    """A misspelt option is an error suggesting the nearest valid name."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackLLM([ScriptedLLM(model="a")], idle_timout=20)

    assert raised.value.field == "idle_timout"
    assert raised.value.suggestions[0] == "idle_timeout"
    assert "did you mean 'idle_timeout' or" in raised.value.problem


def test_a_single_llm_instead_of_a_list_is_refused() -> None:
    """llms given one LLM says a list was expected."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackLLM(ScriptedLLM(model="a"))  # type: ignore[arg-type]

    assert (raised.value.field, raised.value.problem) == ("llms", "got a single ScriptedLLM")
    assert "a list of LLMs" in raised.value.expected


def test_a_function_instead_of_a_list_of_hooks_is_refused() -> None:
    """hooks= given a function says a list of hooks was expected."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackLLM([ScriptedLLM(model="a")], hooks=print)  # type: ignore[arg-type]

    assert (raised.value.field, raised.value.problem) == ("hooks", "got a single hook")


def test_an_llm_hop_overrides_what_its_llm_reports() -> None:
    """LLMHop's context_window and name replace the LLM's own."""
    llm = FallbackLLM(
        [LLMHop(ScriptedLLM(context_window=128_000), name="main", context_window=9_000)]
    )

    assert llm.metadata.context_window == 9_000
    assert llm.fallback_chain.hops[0].name == "main"


def test_hop_settings_are_decided_by_llm_class() -> None:
    """OpenAI-compatible clients must report a finish; other classes need not."""
    from llama_index.llms.openai_like import OpenAILike

    openai_like = OpenAILike(
        model="m", api_base="http://127.0.0.1:9/v1", api_key="x", max_retries=0
    )
    completion_model = MockLLM()
    chain = FallbackLLM([openai_like, completion_model, ScriptedLLM()]).fallback_chain

    assert [h.require_finish for h in chain.hops] == [True, False, False]
    assert [h.continuation for h in chain.hops] == ["instruct", "prefill", "instruct"]


def test_continue_final_message_refuses_an_extra_body_it_would_lose() -> None:
    """vLLM's flags ride in extra_body; an LLM whose own extra_body replaces it is refused."""
    from llama_index.llms.openai_like import OpenAILike

    flagged = OpenAILike(
        model="m",
        api_base="http://127.0.0.1:9/v1",
        api_key="x",
        max_retries=0,
        additional_kwargs={"extra_body": {"top_k": 5}},
    )
    with pytest.raises(ConfigurationError, match="extra_body") as caught:
        FallbackLLM([ScriptedLLM(), LLMHop(flagged, continuation="continue_final_message")])
    assert caught.value.field == "llms[1].continuation"


def test_chain_wide_time_limits_apply_to_hops_without_their_own() -> None:
    """idle_timeout given to the FallbackLLM applies unless an LLMHop sets one."""
    llm = FallbackLLM([ScriptedLLM(), LLMHop(ScriptedLLM(), idle_timeout=3)], idle_timeout=9)

    assert [h.idle_timeout for h in llm.fallback_chain.hops] == [9, 3]


def test_policy_fields_may_be_given_as_keywords() -> None:
    """deadline=, max_attempts= and the other Policy fields build the chain's policy."""
    llm = FallbackLLM([ScriptedLLM()], deadline=30, max_attempts=4)

    assert (llm.fallback_chain.policy.deadline, llm.fallback_chain.policy.max_attempts) == (30, 4)


@pytest.mark.parametrize(
    ("llms", "field"),
    [
        ([], "llms"),
        ("not a list", "llms"),
        ([ScriptedLLM(), "gpt-4o"], "llms[1]"),
        ([MockEmbedding(embed_dim=4)], "llms[0]"),
        ([ScriptedLLM(), LLMHop(ScriptedLLM(), idle_timeout=-1)], "llms[1].idle_timeout"),
    ],
)
def test_bad_llms_raise_a_configuration_error_naming_the_field(llms: object, field: str) -> None:
    """An empty list, something that is not an LLM, or a bad hop setting is refused clearly."""
    with pytest.raises(ConfigurationError) as caught:
        FallbackLLM(llms)  # type: ignore[arg-type]

    assert caught.value.field == field


@pytest.mark.parametrize("limit", ["timeout", "first_token_timeout", "idle_timeout"])
def test_a_bad_default_time_limit_is_named_as_given(limit: str) -> None:
    """A FallbackLLM-wide time limit that is not seconds > 0 is refused under its own name."""
    with pytest.raises(ConfigurationError) as caught:
        FallbackLLM([ScriptedLLM()], **{limit: 0})

    assert caught.value.field == limit


def test_a_chain_that_contains_itself_is_refused() -> None:
    """Making a FallbackLLM lead back to itself raises and leaves it unchanged."""
    inner = FallbackLLM([ScriptedLLM(model="a")])
    outer = FallbackLLM([inner, ScriptedLLM(model="b")])

    with pytest.raises(ConfigurationError, match="contains itself") as caught:
        inner.llms = (outer,)
    with pytest.raises(ConfigurationError, match="contains itself"):
        outer.llms = (outer,)

    assert caught.value.field == "llms[0]"
    assert inner.metadata.model_name == "fallback(a)"


def test_replacing_the_llms_rebuilds_the_chain() -> None:
    """Assigning llms validates them and switches the chain to them."""
    llm = FallbackLLM([ScriptedLLM(model="a")])

    llm.llms = (ScriptedLLM(model="b"), ScriptedLLM(model="c"))

    assert llm.metadata.model_name == "fallback(b, c)"


def test_policy_and_policy_fields_together_are_refused() -> None:
    """policy= and a Policy field as a keyword cannot be combined."""
    with pytest.raises(ConfigurationError) as caught:
        FallbackLLM([ScriptedLLM()], policy=Policy(), deadline=3)

    assert caught.value.field == "policy"


def test_an_unknown_keyword_is_refused() -> None:
    """A keyword that is neither a Policy nor an LLM field raises instead of being ignored."""
    with pytest.raises(ConfigurationError) as caught:
        FallbackLLM([ScriptedLLM()], idle_timeuot=3)

    assert caught.value.field == "idle_timeuot"


def test_llms_that_retry_on_their_own_are_warned_about() -> None:
    """A hop whose client has max_retries > 0 draws one InnerRetriesWarning naming it."""
    with pytest.warns(InnerRetriesWarning, match=r"primary \(max_retries=3\)"):
        FallbackLLM([ScriptedLLM(model="primary", max_retries=3), ScriptedLLM(model="b")])


def test_llms_without_inner_retries_draw_no_warning() -> None:
    """With max_retries=0 on every hop nothing is warned."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FallbackLLM([ScriptedLLM(max_retries=0), ScriptedLLM(model="b")])


def test_an_llm_whose_metadata_fails_is_refused_naming_it() -> None:
    """An LLM that cannot report its metadata (an unknown OpenAI model name) is refused."""
    from llama_index.llms.openai import OpenAI

    unknown = OpenAI(model="no-such-model", api_key="x", max_retries=0)

    with pytest.raises(ConfigurationError) as caught:
        FallbackLLM([ScriptedLLM(), unknown])

    assert caught.value.field == "llms[1].metadata"
