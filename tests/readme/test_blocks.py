"""Every Python block of the READMEs runs as written (see `tests/readme/blocks.py`)."""

from __future__ import annotations

import pytest

from .blocks import Block, python_blocks
from .fixtures import FIXTURES, BlockRun

BLOCKS = python_blocks()


def test_every_python_block_names_a_fixture() -> None:
    """A Python block without a marker, or naming no fixture, would go untested."""
    unmarked = [b.where for b in BLOCKS if b.fixture not in FIXTURES]

    assert len(BLOCKS) >= 10
    assert unmarked == []


def test_every_fixture_serves_a_block() -> None:
    """A fixture no block names is left over from a block that is gone."""
    assert {b.fixture for b in BLOCKS} == set(FIXTURES)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
# LlamaIndex's FunctionAgent inspects its own pydantic models with deprecated accessors.
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211")
# A README never shows what the package warns against.
@pytest.mark.filterwarnings("error::llamaindex_fallback.InnerRetriesWarning")
@pytest.mark.filterwarnings("error::llamaindex_fallback.FunctionCallingWarning")
def test_readme_block_runs_as_written(
    block: Block,
    tmp_path: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The block, with its fixture's placeholders, runs and does what its README says."""
    assert block.fixture in FIXTURES, f"{block.where} has no readme-test marker"
    run = BlockRun(block, tmp_path, monkeypatch)  # type: ignore[arg-type]
    try:
        steps = FIXTURES[block.fixture](run)
        next(steps)
        capsys.readouterr()
        # An <...> name: tracebacks show the block, coverage takes it for no source file.
        exec(compile(block.code, f"<{block.where}>", "exec"), run.namespace)
        run.stdout = capsys.readouterr().out
        with pytest.raises(StopIteration):
            next(steps)
    finally:
        run.close()
