"""`ChainConfig`: the last good configuration, reloadable, and who hears about it."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._errors import ConfigurationError
from .._health import Health
from ._errors import AliasResolved, EntrySkipped
from ._health import build_health
from ._load import parse, read
from ._plan import Plan, make_plan
from ._schema import ModelEntry, Settings

__all__ = ["ChainConfig"]

logger = logging.getLogger("fallback_core.config")

T = TypeVar("T")
OwnerT = TypeVar("OwnerT")


class ChainConfig:
    """Named chains from a mapping or a YAML, TOML or JSON file, and the default chain.

    Create one per application and pass it to whatever builds models from it
    (``langchain_fallback.from_config``, ``llamaindex_fallback.from_config``):
    its ``default`` chain is the process-wide level tried after each alias's
    own entries. Building it validates the configuration and raises
    `ConfigurationError` naming the path of the first problem.

    `reload` re-reads the file: a good file replaces the configuration, a bad
    one is reported and the last good configuration stays. ``listeners`` are
    called with an `EntrySkipped` for every entry left out when a chain is
    built; a listener that raises is logged and never breaks the build.
    """

    def __init__(
        self,
        source: Mapping[str, Any] | str | os.PathLike[str],
        *,
        listeners: Sequence[Callable[[EntrySkipped | AliasResolved], object]] = (),
    ) -> None:
        self.path: Path | None
        if isinstance(source, Mapping):
            self.path = None
            settings = parse(source)
        elif isinstance(source, (str, os.PathLike)):
            self.path = Path(source)
            settings = read(self.path)
        else:
            raise ConfigurationError(
                "source",
                f"got {type(source).__name__}",
                "a mapping, or the path of a .yaml, .yml, .toml or .json file",
            )
        self._settings = settings
        self.listeners = list(listeners)
        self.last_error: ConfigurationError | None = None
        """Why the last `reload` was refused; None after a good one."""
        self.generation = 1
        """Counts the configurations held so far: each reload that changed something adds one."""
        self._followers: list[tuple[weakref.ref[Any], Callable[[Any], object]]] = []
        self._lock = threading.Lock()
        self._health: Health | None = None

    @property
    def settings(self) -> Settings:
        """The configuration in force: the last one that validated."""
        return self._settings

    @property
    def health(self) -> Health | None:
        """The shared `Health` of the ``health`` section, or None if the file has none.

        Built at first use (with ``redis``, a `fallback_core.redis.RedisStore`,
        which needs the ``redis`` extra) and kept across reloads, so the
        circuits outlive them. The adapters' ``from_config`` use it unless
        given ``health=``.
        """
        spec = self._settings.health
        if spec is None:
            return None
        with self._lock:
            if self._health is None:
                self._health = build_health(spec)
            return self._health

    @property
    def aliases(self) -> tuple[str, ...]:
        """The configured alias names, in file order."""
        return tuple(self._settings.aliases)

    def reload(self) -> ConfigurationError | None:
        """Re-read the file; return None if it is now in force, else why it was refused.

        A file that cannot be read, parsed or validated leaves the last good
        configuration in force; the error is returned, kept in `last_error`
        and logged as a warning. After a reload that changed the
        configuration, every `on_reload` callback runs.
        """
        if self.path is None:
            raise ConfigurationError(
                "source",
                "this configuration was given as a mapping, so there is no file to re-read",
                "a ChainConfig made from a file path",
            )
        with self._lock:
            try:
                settings = read(self.path)
            except ConfigurationError as exc:
                self.last_error = exc
                logger.warning(
                    "fallback_core: %s not reloaded, keeping the configuration in force: %s",
                    self.path,
                    exc,
                )
                return exc
            self.last_error = None
            changed = settings != self._settings
            if changed:
                self._settings = settings
                self.generation += 1
        if changed:
            logger.info("fallback_core: %s reloaded (%d aliases)", self.path, len(self.aliases))
            self._notify()
        return None

    def on_reload(self, owner: OwnerT, callback: Callable[[OwnerT], object]) -> None:
        """Call ``callback(owner)`` after every reload that changes the configuration.

        Only a weak reference to ``owner`` is kept: once it is gone the
        callback is dropped, so ``callback`` must not hold ``owner`` itself.
        A callback that raises is logged and never breaks the reload.
        """
        with self._lock:
            self._followers = [(ref, cb) for ref, cb in self._followers if ref() is not None]
            self._followers.append((weakref.ref(owner), callback))

    def plan(self, alias: str, resolve: Callable[[ModelEntry], T]) -> Plan[T]:
        """Resolve ``alias``'s entries, then the default chain's, skipping what cannot be built.

        ``resolve`` builds one entry or raises `Unresolvable`. An unknown
        alias is a `ConfigurationError` suggesting the closest ones. Raises
        `NoUsableModelError`, listing every skipped entry, if none is usable.
        """
        return make_plan(self._settings, alias, resolve, self._report)

    def _report(self, record: EntrySkipped | AliasResolved) -> None:
        if isinstance(record, EntrySkipped):
            logger.warning("fallback_core: alias %r skips %s", record.alias, record.describe())
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:
                logger.exception("fallback_core: config listener %r failed", listener)

    def _notify(self) -> None:
        with self._lock:
            followers = list(self._followers)
        for ref, callback in followers:
            owner = ref()
            if owner is None:
                continue
            try:
                callback(owner)
            except Exception:
                logger.exception("fallback_core: reload callback %r failed", callback)

    def __repr__(self) -> str:
        source = str(self.path) if self.path is not None else "mapping"
        return f"ChainConfig({source!r}, aliases={list(self.aliases)!r})"
