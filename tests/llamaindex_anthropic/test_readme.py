"""The README's LlamaIndex quickstart (an `Anthropic` backup) runs as written with anthropic<1."""

from __future__ import annotations

import pytest

from tests.readme.blocks import Block, python_blocks
from tests.readme.test_blocks import test_readme_block_runs_as_written as run_block

QUICKSTART = [b for b in python_blocks() if b.fixture == "llamaindex-quickstart"]


def test_the_quickstart_block_is_found() -> None:
    """The README still has its LlamaIndex quickstart block."""
    assert len(QUICKSTART) == 1


@pytest.mark.parametrize("block", QUICKSTART, ids=lambda b: b.where)
def test_the_llamaindex_quickstart_runs_as_written(
    block: Block,
    tmp_path: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The quickstart streams the whole answer across the primary's cut, from the Claude backup."""
    run_block(block, tmp_path, monkeypatch, capsys)
