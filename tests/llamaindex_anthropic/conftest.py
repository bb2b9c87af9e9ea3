"""LlamaIndex's `Anthropic` as a hop: run only where the installed anthropic SDK suits it.

llama-index-llms-anthropic (0.12.3, the newest) passes ``temperature`` to
``messages.create``, which anthropic 1.0 removed, and builds
``MessageParam(...)``, which anthropic 2.0 made a ``Union``: with the anthropic
SDK the dev extras install (2.x) every call fails before its request. These
tests run against a compatible SDK (``anthropic<1``, installed beside the venv
by ``make``) from `tests/llamaindex/test_anthropic.py`, in a subprocess whose
``PYTHONPATH`` puts that SDK first.
"""

from __future__ import annotations

import os
from pathlib import Path

import anthropic
import llama_index.core

from fallback_core.testing.pytest_plugin import fault_server  # noqa: F401

_STATIC = Path(llama_index.core.__file__).parent / "_static"
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_STATIC / "tiktoken_cache"))
os.environ.setdefault("NLTK_DATA", str(_STATIC / "nltk_cache"))

COMPATIBLE = int(anthropic.__version__.split(".")[0]) < 1
collect_ignore_glob = [] if COMPATIBLE else ["test_*.py"]
