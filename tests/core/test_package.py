"""The package's shape: a small sorted public API, and no framework imported by the core."""

from __future__ import annotations

import subprocess
import sys

import fallback_core


def isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions - the order ruff's RUF022 keeps."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    """__all__ lists every public name exactly once, sorted."""
    public = {n for n in dir(fallback_core) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(fallback_core, n)).__name__ == "module"}
    assert fallback_core.__all__ == sorted(fallback_core.__all__, key=isort_key)
    assert set(fallback_core.__all__) == public - modules - {"annotations"}


def test_importing_the_core_imports_no_framework() -> None:
    """import fallback_core leaves langchain_core, llama_index and provider SDKs unloaded."""
    code = (
        "import sys, fallback_core; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'llama_index', 'openai', 'anthropic', 'httpx', 'pydantic')]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_source_folder_core_is_not_importable() -> None:
    """Installing the project never makes a top-level module named core importable."""
    code = "import importlib.util; print(importlib.util.find_spec('core'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == "None"
