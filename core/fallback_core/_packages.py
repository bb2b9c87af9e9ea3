"""Installed packages: which ones an exception's traceback passed through, and missing extras.

`packages_involved` serves `HopBugError`.

A programming error inside a hop is usually a mismatch between packages (an
integration and the SDK it calls), so the error names them with their
versions: the distributions whose modules appear in the traceback, innermost
first. fallback-chain's own frames are left out unless the error was raised
there; modules that belong to no distribution (the caller's code) are named as
modules.

`needs_extra` guards an optional module's imports: without its package, the
import fails saying which extra installs it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["needs_extra", "packages_involved"]

_OURS = frozenset({"fallback_core", "langchain_fallback", "llamaindex_fallback"})


@contextlib.contextmanager
def needs_extra(module: str, package: str, extra: str) -> Iterator[None]:
    """Imports inside that fail say ``module`` needs ``package`` and how to install ``extra``."""
    try:
        yield
    except ImportError as exc:
        raise ImportError(
            f"{module} needs {package}: pip install 'fallback-chain[{extra}]'"
        ) from exc


def packages_involved(exc: BaseException) -> tuple[tuple[str, ...], str | None]:
    """The packages ``exc``'s traceback went through, innermost first, and the raising module."""
    frames = _frames(exc)
    raised_in = frames[0][0] if frames else None
    named: list[str] = []
    for i, (module, filename) in enumerate(frames):
        top = module.split(".", 1)[0]
        if (top in _OURS and i > 0) or top in sys.stdlib_module_names:
            continue
        label = _distribution(top, filename) or module
        if label not in named:
            named.append(label)
    return tuple(named), raised_in


def _frames(exc: BaseException) -> list[tuple[str, str]]:
    """The module and file of each traceback frame, innermost first, without repeats."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__")
        if isinstance(name, str):
            frames.append((name, tb.tb_frame.f_code.co_filename))
        tb = tb.tb_next
    return list(dict.fromkeys(reversed(frames)))


def _distribution(top: str, filename: str) -> str | None:
    """The installed distribution (with its version) that holds ``filename``.

    A namespace package (``llama_index``) is shared by many distributions: the
    one whose files include this file is the one; if none does, the frame is
    named by its module rather than by a guess among them.
    """
    names = _distributions().get(top) or []
    if len(names) > 1:
        names = [name for name in names if _holds(name, filename)][:1]
    if not names:
        return None
    name = names[0]
    try:
        return f"{name} {importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a broken install
        return name


@functools.lru_cache(maxsize=64)
def _holds(name: str, filename: str) -> bool:
    try:
        files = importlib.metadata.distribution(name).files or []
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a broken install
        return False
    path = Path(filename).as_posix()
    return any(path.endswith("/" + file.as_posix()) for file in files if file.suffix == ".py")


@functools.lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()
