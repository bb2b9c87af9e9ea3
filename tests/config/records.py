"""Listening to a ChainConfig in tests."""

from __future__ import annotations

from collections.abc import Callable

from fallback_core.config import EntrySkipped


def only_skips(into: list[EntrySkipped]) -> Callable[[object], None]:
    """A config listener that keeps the `EntrySkipped` records (not the look-up summaries)."""

    def listen(record: object) -> None:
        if isinstance(record, EntrySkipped):
            into.append(record)

    return listen
