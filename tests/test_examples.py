"""Every example runs offline and prints exactly what it promises, and nothing else.

`tests/expected_output/NAME.txt` is the whole standard output of
`examples/NAME.py`, and `NAME.stderr.txt` its whole standard error (none: it
prints nothing there), after `normalise` blanks what changes from run to run:
milliseconds and seconds, and the port of the local fault server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPECTED = Path(__file__).resolve().parent / "expected_output"
NAMES = sorted(path.stem for path in EXAMPLES.glob("*.py"))
_VARYING = [
    (re.compile(r" *\b\d+ ms\b"), " <n> ms"),  # right-aligned: the padding varies too
    (re.compile(r"\b\d+\.\d+s\b"), "<t>s"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
]


def normalise(text: str) -> str:
    """`text` with timings and ports replaced by placeholders."""
    for pattern, placeholder in _VARYING:
        text = pattern.sub(placeholder, text)
    return text


def test_every_example_has_its_expected_output() -> None:
    """A new example needs its expected output here, so CI runs and checks it."""
    expected = {p.name.split(".")[0] for p in EXPECTED.glob("*.txt")}

    assert NAMES
    assert set(NAMES) == expected


@pytest.mark.parametrize("name", NAMES)
def test_example_prints_exactly_its_expected_output(name: str) -> None:
    """The example exits cleanly; its output, both streams, is the expected one in full."""
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    stderr = EXPECTED / f"{name}.stderr.txt"

    assert done.returncode == 0, done.stderr[-2000:]
    assert normalise(done.stdout) == (EXPECTED / f"{name}.txt").read_text()
    assert normalise(done.stderr) == (stderr.read_text() if stderr.exists() else "")
