"""A per-call cost ceiling through FallbackLLM: OpenAILike hops on the local fault server."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from fallback_core import ChainExhaustedError, HopSkipped
from fallback_core.testing import FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.http import SHARED, models, openai_like


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return models()


def test_an_llm_the_call_cannot_afford_is_skipped(drive: Drive, fault_server: FaultServer) -> None:
    seen: list[object] = []
    llm = FallbackLLM(
        [
            openai_like(fault_server, "primary", max_tokens=4000),
            openai_like(fault_server, "backup", max_tokens=4000),
        ],
        prices={
            "primary": {"input": 2.5, "output": 10.0},
            "backup": {"input": 0.15, "output": 0.6},
        },
        max_cost=0.01,
        hooks=[seen.append],
    )

    responses = drive.stream_chat(llm, user())

    assert responses[-1].message.content == SHARED
    assert responses[-1].additional_kwargs["fallback"]["served_by"] == "backup"
    assert fault_server.attempts("primary") == []
    (skipped,) = [e for e in seen if isinstance(e, HopSkipped)]
    assert skipped.hop == "primary"


def test_a_ceiling_no_llm_fits_raises_without_calling_any(
    drive: Drive, fault_server: FaultServer
) -> None:
    llm = FallbackLLM(
        [openai_like(fault_server, "primary", max_tokens=4000)],
        prices={"primary": (2.5, 10.0)},
        max_cost=0.001,
    )

    with pytest.raises(ChainExhaustedError) as caught:
        drive.chat(llm, user())
    assert caught.value.reason == "no hop left within max_cost=0.001"
    assert fault_server.attempts("primary") == []
