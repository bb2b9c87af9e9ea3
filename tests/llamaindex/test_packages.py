"""`HopBugError.packages` in a namespace package: the distribution holding each frame's file.

``llama_index`` is one import name shared by many distributions (core and
every integration), so the top-level name alone cannot say which one a frame
of the traceback ran in.
"""

from __future__ import annotations

import importlib.metadata

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.anthropic import Anthropic
from llama_index.llms.anthropic.utils import anthropic_modelname_to_contextsize

from fallback_core._packages import packages_involved


def _version(distribution: str) -> str:
    return f"{distribution} {importlib.metadata.version(distribution)}"


def test_llama_index_is_shared_by_several_distributions() -> None:
    """The premise: the top-level name maps to more than one installed distribution."""
    sharing = importlib.metadata.packages_distributions()["llama_index"]

    assert {"llama-index-core", "llama-index-llms-anthropic"} <= set(sharing)
    assert len(sharing) >= 3


def test_a_frame_in_an_integration_names_that_integration() -> None:
    """An error raised in llama-index-llms-anthropic's file names it; this test is a module."""
    with pytest.raises(ValueError, match="no-such-claude") as caught:
        anthropic_modelname_to_contextsize("no-such-claude")

    packages, raised_in = packages_involved(caught.value)

    assert packages == (_version("llama-index-llms-anthropic"), __name__)
    assert raised_in == "llama_index.llms.anthropic.utils"


def test_frames_of_two_distributions_are_named_innermost_first() -> None:
    """The integration that raised comes first, the core that called it after."""
    claude = Anthropic(model="no-such-claude", api_key="t")
    with pytest.raises(ValueError, match="no-such-claude") as caught:
        claude.chat([ChatMessage(role="user", content="Hi")])  # metadata reads the window

    packages, _ = packages_involved(caught.value)
    names = [p.split(" ")[0] for p in packages]

    assert names[0] == "llama-index-llms-anthropic"
    assert "llama-index-core" in names[1:]  # its callback wrapper called the integration
    assert "llama-index-llms-openai-like" not in names
    assert "llama-index-llms-openai" not in names


def test_a_file_no_distribution_holds_is_named_by_its_module() -> None:
    """A llama_index module from no installed distribution is not pinned on a guessed one."""
    code = compile("raise TypeError('from a local file')", "/nowhere/local_plugin.py", "exec")
    with pytest.raises(TypeError) as caught:
        exec(code, {"__name__": "llama_index.local_plugin"})

    packages, raised_in = packages_involved(caught.value)

    assert packages == ("llama_index.local_plugin", __name__)
    assert raised_in == "llama_index.local_plugin"
