"""Fall back on a bad answer through FallbackLLM: OpenAILike hops on the local fault server.

The "silent" model answers with nothing - a 200 stream that finishes with
``stop`` and no text, as real models sometimes do (a reasoning model that spent
its budget thinking, a prefill the model considers finished).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding

from fallback_core import Category, ChainExhaustedError
from fallback_core.checks import check, not_empty
from fallback_core.testing import FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.http import SHARED, models, openai_like


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return {**models(), "silent": ModelScript("")}


def llm(server: FaultServer, *names: str, **options: object) -> FallbackLLM:
    return FallbackLLM([openai_like(server, n) for n in names], **options)  # type: ignore[arg-type]


def test_an_empty_answer_is_passed_on_to_the_backup(
    drive: Drive, fault_server: FaultServer
) -> None:
    responses = drive.stream_chat(
        llm(fault_server, "silent", "backup", checks=[not_empty()]), user()
    )

    assert "".join(r.delta or "" for r in responses) == SHARED
    trace = responses[-1].additional_kwargs["fallback"]
    assert trace["served_by"] == "backup"
    assert trace["attempts"][0]["category"] == Category.BAD_ANSWER.value


def test_without_the_check_the_empty_answer_is_the_answer(
    drive: Drive, fault_server: FaultServer
) -> None:
    response = drive.chat(llm(fault_server, "silent", "backup"), user())

    assert response.message.content == ""
    assert fault_server.attempts("backup") == []


def test_a_query_engine_gets_the_answer_that_passes_a_users_check(
    fault_server: FaultServer,
) -> None:
    mentions = check(lambda a: "chain" in a.text, "does not mention chains", holds=True)
    index = VectorStoreIndex.from_documents(
        [Document(text="A fallback chain tries its models in order.")],
        embed_model=MockEmbedding(embed_dim=8),
    )
    engine = index.as_query_engine(llm=llm(fault_server, "silent", "primary", checks=[mentions]))

    assert str(engine.query("What does a fallback chain do?")) == SHARED


def test_every_hop_answering_badly_ends_in_a_clean_error(
    drive: Drive, fault_server: FaultServer
) -> None:
    with pytest.raises(ChainExhaustedError) as caught:
        drive.chat(llm(fault_server, "silent", "silent", checks=[not_empty()]), user())

    assert caught.value.partial_text == ""
    assert [a.category for a in caught.value.attempts] == [Category.BAD_ANSWER] * 2
