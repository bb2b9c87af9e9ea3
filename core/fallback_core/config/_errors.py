"""What building a chain from configuration can report, next to the core's error tree.

    FallbackError
    ├── ConfigurationError (ValueError)
    │   └── NoUsableModelError     every entry of an alias (and the default chain) was skipped
    └── Unresolvable               a resolver cannot build one entry; the entry is skipped

A file that cannot be read, parsed or validated raises a plain
`ConfigurationError` whose ``field`` is the dotted path of the problem
(``aliases.fast.chain[1].timeout``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ConfigurationError, FallbackError

__all__ = ["EntrySkipped", "NoUsableModelError", "Unresolvable"]


@dataclass(frozen=True, slots=True)
class EntrySkipped:
    """An entry was left out of ``alias``'s chain when it was built.

    ``entry`` is the entry as written (``provider/model``), ``where`` its place in the file
    (``default[0]``, ``aliases.fast.chain[2]``), ``reason`` why it was skipped.
    """

    alias: str
    entry: str
    where: str
    reason: str

    def describe(self) -> str:
        """One line: where, what, why."""
        return f"{self.where} ({self.entry}): {self.reason}"


@dataclass(frozen=True, slots=True)
class AliasResolved:
    """``alias`` was looked up and its chain planned: ``used`` entries, ``skipped`` left out.

    ``known`` is always True now that an unknown alias is a `ConfigurationError`
    (kept for listeners written against it); ``used`` is 0 when nothing was usable.
    """

    alias: str
    used: int
    skipped: int
    known: bool


class Unresolvable(FallbackError):
    """Raised by a resolver: this entry cannot be built here; ``reason`` says why."""

    @classmethod
    def because(cls, exc: BaseException) -> Unresolvable:
        """An `Unresolvable` whose reason is ``exc``, its type and message on one short line."""
        return cls(f"{type(exc).__name__}: {cls.brief(exc)}")

    @staticmethod
    def brief(exc: BaseException, limit: int = 300) -> str:
        """``exc``'s message on one line, cut to ``limit`` characters."""
        text = " ".join(str(exc).split())
        return text if len(text) <= limit else f"{text[: limit - 3]}..."

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NoUsableModelError(ConfigurationError):
    """No entry of ``alias`` (nor of the default chain) could be built.

    ``skipped`` holds every entry left out, with its reason, in chain order.
    """

    def __init__(self, alias: str, skipped: Sequence[EntrySkipped]) -> None:
        self.alias = alias
        self.skipped = tuple(skipped)
        super().__init__(
            f"aliases.{alias}",
            f"no entry could be used ({len(self.skipped)} skipped)",
            "at least one entry whose integration is installed and configured",
        )
        lines = [f"no model of alias {alias!r} can be used; every entry was skipped:"]
        lines += [f"  - {skip.describe()}" for skip in self.skipped]
        self.args = ("\n".join(lines),)
