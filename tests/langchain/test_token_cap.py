"""The caller's max_tokens across a continuation, with ChatOpenAI hops on the local fault server.

The fault server honours max_tokens as the API does: it stops there with
finish_reason "length". Its tokens are words (about six characters), so the
four-characters-a-token estimate of the delivered text errs on the safe side.
"""

from __future__ import annotations

import math

import pytest

from fallback_core.testing import Fault, FaultServer
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import ANSWER, Call
from .servers import OpenAIHops


@pytest.mark.parametrize("where", ["call option", "model setting"])
def test_a_continued_answer_keeps_the_callers_cap_and_reports_length(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops, where: str
) -> None:
    fault_server.set_fault("primary", Fault.cut_after(5))
    on_model = {"max_tokens": 15} if where == "model setting" else {}
    hops = [ChatHop(openai_hop(n, **on_model), name=n) for n in ("primary", "backup")]
    model = FallbackChatModel(
        models=hops, backoff=lambda n: 0.0, **({} if on_model else {"max_tokens": 15})
    )

    answer = call(model, "Tell me about fallback chains.")

    (cut,) = fault_server.attempts("primary")
    (continued,) = fault_server.attempts("backup")
    assert cut.tokens_sent == 5
    left = 15 - math.ceil(len(cut.text_sent) / 4)  # the estimate: four characters a token
    assert 0 < left < len(ANSWER.split()) - 5, "the cap, not the answer's end, stops the backup"
    assert continued.tokens_sent == left
    assert cut.tokens_sent + continued.tokens_sent <= 15
    assert ANSWER.startswith(answer.text)
    assert answer.text == cut.text_sent + continued.text_sent
    assert answer.message.response_metadata["finish_reason"] == "length"


def test_an_uncapped_continuation_finishes_the_whole_answer(
    call: Call, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    fault_server.set_fault("primary", Fault.cut_after(5))
    model = FallbackChatModel(models=[openai_hop("primary"), openai_hop("backup")])

    answer = call(model, "Tell me about fallback chains.")

    assert answer.text == ANSWER
    assert answer.message.response_metadata["finish_reason"] == "stop"
