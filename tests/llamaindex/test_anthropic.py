"""LlamaIndex's `Anthropic` integration: a bug where the SDK breaks it, tested where not.

With the anthropic SDK the dev extras install (2.x), llama-index-llms-anthropic
fails before sending anything (see `tests/llamaindex_anthropic/conftest.py`):
a chain with it must say so rather than quietly answer from the backup. With
a compatible SDK (anthropic<1, installed beside the venv by `make`), its whole
suite of hop tests runs in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.llms.anthropic import Anthropic

from fallback_core import HopBugError
from fallback_core.testing import FaultServer
from llamaindex_fallback import FallbackLLM

from .http import openai_like

ROOT = Path(__file__).resolve().parents[2]
COMPATIBLE_SDK = Path(sys.prefix) / "anthropic-0"  # pip install --target it 'anthropic<1'


@pytest.mark.skipif(
    int(anthropic.__version__.split(".")[0]) < 1, reason="the installed SDK suits the integration"
)
def test_an_integration_the_installed_sdk_breaks_raises_instead_of_failing_over(
    fault_server: FaultServer,
) -> None:
    """The Claude hop fails before its request: HopBugError names it, the backup is not asked."""
    claude = Anthropic(
        model="claude-haiku-4-5",
        base_url=fault_server.anthropic_base_url,
        api_key="t",
        max_retries=0,
    )
    llm = FallbackLLM([claude, openai_like(fault_server, "backup")])

    with pytest.raises(HopBugError) as caught:
        llm.chat([ChatMessage(role="user", content="Hi")])

    assert caught.value.hop == "claude-haiku-4-5"
    # The integration at fault first, then what called it; no other llama_index distribution.
    assert [p.split(" ")[0] for p in caught.value.packages] == [
        "llama-index-llms-anthropic",
        "llama-index-core",
        "llama-index-instrumentation",
    ]
    assert "llama-index-llms-anthropic" in str(caught.value)
    assert fault_server.attempt_count() == 0


@pytest.mark.timeout(600)
def test_the_claude_hop_suite_passes_with_a_compatible_sdk() -> None:
    """tests/llamaindex_anthropic, run with anthropic<1 first on the path, passes in full."""
    assert (COMPATIBLE_SDK / "anthropic").is_dir(), f"run make (it installs {COMPATIBLE_SDK})"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COMPATIBLE_SDK), str(ROOT)])}
    env.pop("COVERAGE_PROCESS_START", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/llamaindex_anthropic",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=550)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary
    assert "skipped" not in summary
    assert "failed" not in summary
