"""The caller's max_tokens across a continuation, with OpenAILike hops on the local fault server."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.http import SHARED, models, openai_like


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return models()


@pytest.mark.parametrize("entry", ["chat", "stream_chat", "complete"])
def test_a_continued_answer_keeps_the_llms_cap(
    drive: Drive, fault_server: FaultServer, entry: str
) -> None:
    fault_server.set_fault("primary", Fault.cut_after(5))
    hops = [openai_like(fault_server, n, max_tokens=15) for n in ("primary", "backup")]
    llm = FallbackLLM(hops, backoff=lambda n: 0.0)  # type: ignore[arg-type]

    if entry == "complete":
        done = drive.complete(llm, "Tell me about fallback chains.")
        text, trace = done.text, done.additional_kwargs["fallback"]
    else:
        last = drive.chat(llm, user()) if entry == "chat" else drive.stream_chat(llm, user())[-1]
        text, trace = last.message.content or "", last.additional_kwargs["fallback"]

    (cut,) = fault_server.attempts("primary")
    (continued,) = fault_server.attempts("backup")
    assert cut.tokens_sent == 5
    left = 15 - math.ceil(len(cut.text_sent) / 4)  # the estimate: four characters a token
    assert 0 < left < len(SHARED.split()) - 5, "the cap, not the answer's end, stops the backup"
    assert continued.tokens_sent == left
    assert text == cut.text_sent + continued.text_sent
    assert SHARED.startswith(text)
    assert trace["finish_reason"] == "length"
