"""The README's LangChain quickstart, run as written against a primary that never answers.

Its settings (``idle_timeout=20, deadline=60``) and the default limits must hand
a primary that sends no byte to the backup in bounded time: with two models and
a 60 s deadline the primary may wait at most half of it for its first text.
This test waits those 30 s in real time, once.
"""

from __future__ import annotations

import pytest

from fallback_core.testing import Fault

from .blocks import python_blocks
from .fixtures import ANSWER, BlockRun

SHARE = 30.0  # the primary's share of the quickstart's 60 s deadline, as documented
SLACK = 10.0  # a loaded machine's delay in starting the backup's request


def test_the_quickstart_hands_a_silent_primary_to_the_backup(
    tmp_path: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (block,) = [
        b
        for b in python_blocks()
        if b.fixture == "langchain-quickstart" and b.where.startswith("README.md")
    ]
    run = BlockRun(block, tmp_path, monkeypatch)  # type: ignore[arg-type]
    try:
        models = {"gpt-4o-mini": ANSWER, "claude-3-5-haiku-latest": ANSWER}
        run.serve(models, faults={"gpt-4o-mini": Fault.no_response()})
        run.needs_anthropic("langchain-anthropic", "langchain_anthropic")
        capsys.readouterr()
        exec(compile(block.code, block.where, "exec"), run.namespace)
        printed = capsys.readouterr().out
        (silent,) = run.server.attempts("gpt-4o-mini")
        (served,) = run.server.attempts("claude-3-5-haiku-latest")
    finally:
        run.close()

    assert printed == ANSWER
    assert silent.tokens_sent == 0
    assert not served.continuation  # nothing was delivered: the backup answers afresh
    assert served.started_at - silent.started_at <= SHARE + SLACK
