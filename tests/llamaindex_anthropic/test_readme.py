"""The READMEs' LlamaIndex quickstarts (an `Anthropic` backup) run as written with anthropic<1.

With the SDK the dev group installs (2.x) `tests/readme` skips them, naming
this suite, which `tests/llamaindex/test_anthropic.py` runs with anthropic<1.
"""

from __future__ import annotations

import pytest

from tests.readme.blocks import Block, python_blocks
from tests.readme.test_blocks import test_readme_block_runs_as_written as run_block

QUICKSTART = [b for b in python_blocks() if b.fixture == "llamaindex-quickstart"]


def test_the_quickstart_blocks_are_found() -> None:
    """The project README and the adapter's README still have their LlamaIndex quickstarts."""
    where = sorted(b.where.split(":")[0] for b in QUICKSTART)

    assert where == ["README.md", "llamaindex_fallback/README.md"]


@pytest.mark.parametrize("block", QUICKSTART, ids=lambda b: b.where)
def test_the_llamaindex_quickstart_runs_as_written(
    block: Block,
    tmp_path: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each quickstart streams the whole answer across the primary's cut, from the Claude backup."""
    run_block(block, tmp_path, monkeypatch, capsys)
