"""The fenced code blocks of the READMEs, each with the fixture its marker names.

A Python block is run by `tests/readme/test_blocks.py` as it is written. The line
just before its fence is a marker, invisible on GitHub and on a package index:

    <!-- readme-test: NAME -->

and NAME is a fixture of `tests/readme/fixtures.py`: it fills the placeholders
the block leaves to the reader (`documents`, `hops`, `get_weather`, ...), points
the provider clients the block names at a local fault server, and checks what
the block did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
READMES = (
    ROOT / "README.md",
    ROOT / "langchain_fallback" / "README.md",
    ROOT / "llamaindex_fallback" / "README.md",
)
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!-- readme-test: ([\w-]+) -->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its code and its marker's fixture name."""

    path: Path
    line: int  # of the opening fence, from 1
    language: str
    code: str
    fixture: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of the Markdown file at `path`, in order."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        code = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(path, i + 1, opening[1], code, marker[1] if marker else None))
        i = end + 1
    return found


def python_blocks() -> list[Block]:
    """The Python blocks of every README there is."""
    return [b for path in READMES if path.exists() for b in blocks(path) if b.language == "python"]


def block_before(block: Block) -> Block | None:
    """The block just before `block` in its file (the YAML file a Python block reads)."""
    earlier = [b for b in blocks(block.path) if b.line < block.line]
    return earlier[-1] if earlier else None
