"""Testing your own fallback chain: the fault server for failures, a cassette for replays.

A pytest module (run it with `python examples/test_your_chain.py`, or pytest).
In your own project enable the fixture with
`pytest_plugins = ["fallback_core.testing.pytest_plugin"]` in your root conftest,
then ask for `fault_server` in a test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import vcr
from langchain_openai import ChatOpenAI

from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import FallbackChatModel, with_backups

os.environ.setdefault("LANGSMITH_TRACING", "false")
ANSWER = "Your chain keeps answering when its first model does not."


@pytest.fixture
def fault_server_models() -> dict[str, ModelScript]:
    """The models your chain calls, with the answer each gives (shared, so continuing works)."""
    return {name: ModelScript(ANSWER) for name in ("my-primary", "my-backup")}


def my_chain(base_url: str) -> FallbackChatModel:
    """Your production chain, pointed at the test server."""

    def chat(model: str) -> ChatOpenAI:
        return ChatOpenAI(model=model, base_url=base_url, api_key="test", max_retries=0)

    return with_backups(chat("my-primary"), chat("my-backup"), idle_timeout=2)


@pytest.mark.parametrize(
    "fault",
    [Fault.rate_limit(retry_after=0.01), Fault.server_error(503), Fault.cut_after(4)],
    ids=["429", "503", "cut mid-answer"],
)
def test_my_chain_survives_its_primary_failing(fault_server: FaultServer, fault: Fault) -> None:
    """Whatever the primary does, the caller gets the whole answer."""
    fault_server.set_fault("my-primary", fault)
    text = "".join(chunk.text for chunk in my_chain(fault_server.base_url).stream("hi"))
    assert text == ANSWER
    assert fault_server.attempt_count("my-backup") == 1


def test_a_recorded_failover_replays_offline(fault_server: FaultServer, tmp_path: Path) -> None:
    """Record a 503-then-backup call once; replay it later with no server at all."""
    cassette = str(tmp_path / "failover.yaml")
    recorder = vcr.VCR(filter_headers=["authorization"], match_on=["method", "path", "body"])
    fault_server.set_fault("my-primary", Fault.server_error(503, times=2))
    base_url = fault_server.base_url
    with recorder.use_cassette(cassette, record_mode="all"):
        recorded = my_chain(base_url).invoke("hi")
    fault_server.stop()  # nothing is listening any more
    with recorder.use_cassette(cassette, record_mode="none"):
        replayed = my_chain(base_url).invoke("hi")
    assert replayed.text == recorded.text == ANSWER
    assert replayed.response_metadata["model_name"] == "my-backup"


if __name__ == "__main__":
    import subprocess
    import sys

    plugin = ["-p", "fallback_core.testing.pytest_plugin"]
    raise SystemExit(subprocess.call([sys.executable, "-m", "pytest", __file__, "-q", *plugin]))
