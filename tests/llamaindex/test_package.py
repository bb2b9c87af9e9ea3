"""The adapter's public surface: a small sorted API, typed."""

from __future__ import annotations

from pathlib import Path

import llamaindex_fallback


def isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions - the order ruff's RUF022 keeps."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    """__all__ lists every public name exactly once, sorted."""
    public = {n for n in dir(llamaindex_fallback) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(llamaindex_fallback, n)).__name__ == "module"}
    assert llamaindex_fallback.__all__ == sorted(llamaindex_fallback.__all__, key=isort_key)
    assert set(llamaindex_fallback.__all__) == public - modules - {"annotations"}


def test_the_package_ships_its_type_information() -> None:
    """py.typed sits next to the package's modules."""
    assert (Path(llamaindex_fallback.__file__).parent / "py.typed").is_file()
