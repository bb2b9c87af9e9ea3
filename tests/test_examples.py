"""Every example runs offline and shows what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPECTED = {
    "demo.py": "Both answers complete, nothing lost or repeated: True",
    "langchain_quickstart.py": "served by: backup",
    "llamaindex_quickstart.py": "complete, nothing lost or repeated: True",
    "named_chains.py": "complete, nothing lost or repeated: True",
    "langchain_agent_and_tools.py": "agent answer:      It is sunny and 24C in Paris.",
    "llamaindex_agent.py": "complete, nothing lost or repeated: True",
    "test_your_chain.py": "4 passed",
    "telemetry.py": "fallback chain   outcome=ok",
}


def test_every_example_is_covered() -> None:
    """A new example needs an expectation here, so CI runs it."""
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_offline(name: str) -> None:
    """The example exits cleanly and prints its proof line."""
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert EXPECTED[name] in done.stdout
