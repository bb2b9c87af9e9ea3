"""The backends are optional extras: the core never loads them, each asks for its own."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_the_core_loads_neither_backend() -> None:
    """import fallback_core leaves prometheus_client and opentelemetry unloaded."""
    code = (
        "import sys, fallback_core; "
        "print(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'prometheus_client', 'opentelemetry'}))"
    )
    assert run(code) == "[]"


@pytest.mark.parametrize(
    ("module", "package", "extra"),
    [
        ("fallback_core.prometheus", "prometheus_client", "fallback-chain[prometheus]"),
        ("fallback_core.otel", "opentelemetry", "fallback-chain[otel]"),
    ],
)
def test_backend_without_its_package_names_the_extra(module: str, package: str, extra: str) -> None:
    """Importing a backend whose package is missing raises an ImportError naming the extra."""
    code = (
        f"import sys; sys.modules[{package!r}] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert f"pip install '{extra}'" in run(code)
