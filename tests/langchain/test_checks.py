"""Fall back on a bad answer through FallbackChatModel, in an LCEL chain over real HTTP."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from fallback_core import Category
from fallback_core.checks import not_empty
from fallback_core.testing import FaultServer, ModelScript
from langchain_fallback import FallbackChatModel

from .conftest import ANSWER, Call
from .servers import OpenAIHops


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """The usual models, and one that answers with nothing (a 200 that finishes empty)."""
    return {"silent": ModelScript(""), "backup": ModelScript(ANSWER)}


def test_an_empty_answer_is_passed_on_in_every_entry_point(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    model = FallbackChatModel(
        models=[openai_hop("silent"), openai_hop("backup")], checks=[not_empty()]
    )

    answer = call(model, "Tell me about fallback chains.")

    assert answer.text == ANSWER
    trace = answer.message.response_metadata["fallback"]
    assert trace["attempts"][0]["category"] == Category.BAD_ANSWER.value


def test_an_lcel_chain_streams_the_backups_answer(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    model = FallbackChatModel(
        models=[openai_hop("silent"), openai_hop("backup")], checks=[not_empty()]
    )
    chain = ChatPromptTemplate.from_template("{question}") | model | StrOutputParser()

    assert "".join(chain.stream({"question": "Why back up a model?"})) == ANSWER
    assert fault_server.attempt_count("silent") == 1
