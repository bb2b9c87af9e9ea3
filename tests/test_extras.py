"""Each optional part of the package, imported without its extra, names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "missing", "extra"),
    [
        ("langchain_fallback", "langchain_core", "fallback-chain[langchain]"),
        ("llamaindex_fallback", "llama_index.core", "fallback-chain[llamaindex]"),
        ("fallback_core.testing", "h11", "fallback-chain[testing]"),
        ("fallback_core.config", "pydantic", "fallback-chain[config]"),
        ("fallback_core.otel", "opentelemetry.trace", "fallback-chain[otel]"),
        ("fallback_core.prometheus", "prometheus_client", "fallback-chain[prometheus]"),
        ("fallback_core.redis", "redis", "fallback-chain[redis]"),
    ],
)
def test_import_without_the_extra_names_it(module: str, missing: str, extra: str) -> None:
    """Importing an adapter or optional module whose package is missing says what to install."""
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith(f"pip install '{extra}'")
