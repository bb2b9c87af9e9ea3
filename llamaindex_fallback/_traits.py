"""What a chain may assume about an LLM's class: does it report finish reasons, how it continues.

See `llamaindex_fallback._hops` for what each trait means. A class known to
report finish reasons only from some version of its distribution on is
trusted only when that version is installed.
"""

from __future__ import annotations

import importlib.metadata
import itertools
from dataclasses import dataclass, replace

from llama_index.core.base.llms.types import LLMMetadata
from llama_index.core.llms import LLM

from fallback_core import Strategy

__all__ = ["ClassTraits", "class_traits"]


@dataclass(frozen=True, slots=True)
class ClassTraits:
    require_finish: bool
    continuation: Strategy


# Matched against the qualified names in an LLM's MRO; the first match wins. A
# distribution named with a version reports finish reasons from that version on.
_KNOWN_CLASSES: tuple[tuple[str, ClassTraits, tuple[str, tuple[int, ...]] | None], ...] = (
    ("llama_index.llms.openai.base.OpenAI", ClassTraits(True, "instruct"), None),
    (
        "llama_index.llms.anthropic.base.Anthropic",
        ClassTraits(True, "prefill"),
        ("llama-index-llms-anthropic", (0, 10, 2)),
    ),
    ("llama_index.llms.ollama.base.Ollama", ClassTraits(False, "prefill"), None),
)


def class_traits(llm: LLM, metadata: LLMMetadata) -> ClassTraits:
    """What the chain may assume about ``llm``'s class (see the module docstring)."""
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(llm).__mro__}
    for name, traits, since in _KNOWN_CLASSES:
        if name in names:
            if since is not None and not _installed_from(*since):
                return replace(traits, require_finish=False)
            return traits
    return ClassTraits(False, "instruct" if metadata.is_chat_model else "prefill")


def _installed_from(distribution: str, version: tuple[int, ...]) -> bool:
    """Whether ``distribution`` is installed at ``version`` or later."""
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    numbers = []
    for part in installed.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers) >= version
