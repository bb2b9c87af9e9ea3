"""The adapters' modules import one another only at module level, so their layering has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ("langchain_fallback", "llamaindex_fallback")


def _imports_inside_functions(path: Path) -> list[str]:
    """The package-relative imports made inside a function body of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.level > 0:
                    found.append(f"{path.name}:{inner.lineno} from .{inner.module}")
    return found


@pytest.mark.parametrize("package", ADAPTERS)
def test_no_adapter_module_imports_its_own_package_inside_a_function(package: str) -> None:
    """No adapter dodges an import cycle by importing one of its own modules inside a function."""
    found = [
        hit
        for path in sorted((ROOT / package).glob("*.py"))
        for hit in _imports_inside_functions(path)
    ]
    assert found == []


@pytest.mark.parametrize("package", ADAPTERS)
def test_no_adapter_recognises_its_own_model_by_class_name(package: str) -> None:
    """No adapter compares a class name with its fallback model's name to avoid importing it."""
    for path in sorted((ROOT / package).glob("*.py")):
        source = path.read_text()
        assert '__name__ == "FallbackChatModel"' not in source, path.name
        assert '__name__ == "FallbackLLM"' not in source, path.name
