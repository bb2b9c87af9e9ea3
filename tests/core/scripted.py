"""Scripted hop targets for the engine's fine-grained tests.

A `Scripted` target plays one script per attempt. A script is a list of
items - a str (a text delta), a `Delta`, an exception (raised at that point),
a `Stall` (the stream goes quiet) - or a bare exception, raised when the hop
is called. `ok(...)` ends with a finish reason; `cut(...)` does not.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

from fallback_core import Continuation, Delta, Usage

Item = Union[str, Delta, BaseException, "Stall"]
Script = Sequence[Item] | BaseException


_targets: weakref.WeakSet[Scripted] = weakref.WeakSet()

VIRTUAL = False
"""Set while a call runs on virtual time (``virtual``): a stall is handed to the I/O, not waited."""


def release_all() -> None:
    """End every sync stall now (test teardown)."""
    for target in list(_targets):
        target.release.set()


@dataclass(frozen=True)
class Stall:
    """The stream goes quiet for ``seconds`` (or until released)."""

    seconds: float = 30.0


def pause(seconds: float) -> Iterator[Any]:
    """A custom target's stream goes quiet: on virtual time a `Stall`, else a real wait."""
    if VIRTUAL:
        yield Stall(seconds)
    else:
        time.sleep(seconds)


async def apause(seconds: float) -> AsyncIterator[Any]:
    """`pause` for an async stream."""
    if VIRTUAL:
        yield Stall(seconds)
    else:
        await asyncio.sleep(seconds)


def ok(*texts: str, usage: Usage | None = None, finish: str = "stop") -> list[Item]:
    """A complete answer: the texts, then a finish reason (and usage)."""
    return [*texts, Delta(finish_reason=finish, usage=usage)]


def cut(*texts: str) -> list[Item]:
    """A stream that stops after the texts without a finish reason."""
    return list(texts)


@dataclass
class Call:
    request: Any
    continuation: Continuation | None


class Scripted:
    """A target whose every attempt plays the next script; the last script repeats."""

    def __init__(self, *scripts: Script, name: str | None = None) -> None:
        self.scripts = list(scripts)
        self.name = name
        self.release = threading.Event()
        self.calls: list[Call] = []
        self.closed = 0
        self.finished = 0
        _targets.add(self)

    def _script(self, request: Any, continuation: Continuation | None) -> Sequence[Item]:
        self.calls.append(Call(request, continuation))
        script = self.scripts[min(len(self.calls), len(self.scripts)) - 1]
        if isinstance(script, BaseException):
            raise script
        return script

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        script = self._script(request, continuation)
        return self._play(script)

    def _play(self, script: Sequence[Item]) -> Iterator[Delta]:
        try:
            for item in script:
                if isinstance(item, Stall):
                    if VIRTUAL:
                        yield item  # type: ignore[misc]
                    else:
                        self.release.wait(item.seconds)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield Delta(text=item) if isinstance(item, str) else item
            self.finished += 1
        finally:
            self.closed += 1

    def astream(self, request: Any, continuation: Continuation | None) -> AsyncIterator[Delta]:
        script = self._script(request, continuation)
        return self._aplay(script)

    async def _aplay(self, script: Sequence[Item]) -> AsyncIterator[Delta]:
        try:
            for item in script:
                if isinstance(item, Stall):
                    if VIRTUAL:
                        yield item  # type: ignore[misc]
                    else:
                        await asyncio.sleep(item.seconds)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    await asyncio.sleep(0)
                    yield Delta(text=item) if isinstance(item, str) else item
            self.finished += 1
        finally:
            self.closed += 1
