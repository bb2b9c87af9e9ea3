"""Non-streamed calls take whole replies: real OpenAILike hops against the local fault server.

A hop with no stall limits is called through its non-streaming method (the
server sees a request without ``"stream": true``); a hop with the default
limits still streams.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.tools import FunctionTool

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.http import SHARED, models, openai_like

NO_LIMITS = {"first_token_timeout": None, "idle_timeout": None}
NO_WAIT = {"backoff": lambda retry: 0.0}


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return {
        **models(),
        "tooler": ModelScript(answer=SHARED, tool_call=("multiply", {"a": 6, "b": 7})),
    }


def chain(server: FaultServer, *names: str, **kwargs: object) -> FallbackLLM:
    hops = [openai_like(server, name) for name in names or ("primary", "backup")]
    return FallbackLLM(hops, **{**NO_WAIT, **kwargs})  # type: ignore[arg-type]


def test_chat_without_stall_limits_sends_a_non_streaming_request(
    drive: Drive, fault_server: FaultServer
) -> None:
    """chat with no stall limits is one unstreamed request; its answer, usage, model come back."""
    response = drive.chat(chain(fault_server, **NO_LIMITS), user())

    (attempt,) = fault_server.attempts()
    assert not attempt.streamed
    assert response.message.content == SHARED
    assert response.delta is None
    assert response.additional_kwargs["total_tokens"] > 0
    assert response.additional_kwargs["completion_tokens"] > 0
    assert response.raw.model == "primary"
    assert response.additional_kwargs["fallback"]["served_by"] == "primary"


def test_complete_without_stall_limits_sends_a_non_streaming_request(
    drive: Drive, fault_server: FaultServer
) -> None:
    """complete with no stall limits is one unstreamed request, answered whole."""
    response = drive.complete(chain(fault_server, **NO_LIMITS), "Tell me about fallback chains.")

    (attempt,) = fault_server.attempts()
    assert not attempt.streamed
    assert response.text == SHARED
    assert response.additional_kwargs["total_tokens"] > 0


def test_chat_with_default_limits_still_streams(drive: Drive, fault_server: FaultServer) -> None:
    """A hop with the default first-token and idle limits is streamed, so the limits can act."""
    response = drive.chat(chain(fault_server), user())

    (attempt,) = fault_server.attempts()
    assert attempt.streamed
    assert response.message.content == SHARED


@pytest.mark.parametrize(
    "fault",
    [Fault.rate_limit(), Fault.server_error(500), Fault.reset_before_headers()],
    ids=["429", "500", "reset"],
)
def test_a_failed_whole_reply_is_answered_by_the_backup(
    drive: Drive, fault_server: FaultServer, fault: Fault
) -> None:
    """A 429, 500 or reset on the primary's whole reply moves on: the backup answers, unstreamed."""
    fault_server.set_fault("primary", fault)

    response = drive.chat(chain(fault_server, **NO_LIMITS), user())

    assert response.message.content == SHARED
    assert response.additional_kwargs["fallback"]["served_by"] == "backup"
    assert [a.streamed for a in fault_server.attempts("backup")] == [False]


def test_a_tool_call_arrives_whole_in_a_non_streamed_reply(
    drive: Drive, fault_server: FaultServer
) -> None:
    """chat_with_tools over a whole reply returns the complete tool call."""
    llm = chain(fault_server, "tooler", **NO_LIMITS)
    tool = FunctionTool.from_defaults(multiply)

    response = drive.chat_with_tools(llm, [tool], user_msg="What is 6 times 7?")

    (selection,) = llm.get_tool_calls_from_response(response)
    assert (selection.tool_name, selection.tool_kwargs) == ("multiply", {"a": 6, "b": 7})
    assert not fault_server.attempts("tooler")[0].streamed


async def test_a_function_agent_calls_its_tool_through_whole_replies(
    fault_server: FaultServer,
) -> None:
    """A non-streaming FunctionAgent calls the tool and answers, every turn a whole reply."""
    llm = chain(fault_server, "tooler", **NO_LIMITS)
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(multiply)], llm=llm, streaming=False)

    result = await agent.run("What is 6 times 7?")

    assert str(result) == SHARED
    assert [a.streamed for a in fault_server.attempts()] == [False, False]


def test_engines_answer_through_whole_replies(fault_server: FaultServer) -> None:
    """A query engine and a chat engine get the whole answer from unstreamed requests."""
    llm = chain(fault_server, **NO_LIMITS)
    index = VectorStoreIndex.from_documents(
        [Document(text="A fallback chain tries its models in order.")],
        embed_model=MockEmbedding(embed_dim=8),
    )

    assert str(index.as_query_engine(llm=llm).query("What does it do?")) == SHARED
    assert str(SimpleChatEngine.from_defaults(llm=llm).chat("Hello")) == SHARED
    assert [a.streamed for a in fault_server.attempts()] == [False, False]
