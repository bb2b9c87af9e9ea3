"""The attempts log: one record per chat-completions request a fault server received.

The server thread fills in an `Attempt` as the request goes; readers on any
thread get frozen `AttemptRecord` snapshots.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from typing import Literal

Outcome = Literal[
    "in_progress",  # still being answered
    "completed",  # the whole response was sent (faults that only delay or garble included)
    "error_response",  # an HTTP error status was sent
    "reset",  # the connection was reset before any response byte
    "cut",  # the server closed the connection mid-response on purpose
    "error_event",  # a stream that began with 200 ended with an error event
    "client_gone",  # the client disconnected before the response was complete
    "server_stopped",  # the server stopped while the attempt was in flight
    "upstream_error",  # proxy mode: the upstream failed mid-response, so the connection was closed
]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """What happened to one request: which fault struck, what was sent, and when.

    `started_at` / `ended_at` are `time.monotonic()` readings (`ended_at` is None
    while the attempt is in progress); `started_wall` is the `time.time()` of the
    start. `tokens_sent` counts the content chunks streamed before the finish
    chunk, or the reply's tokens once a whole JSON body was sent; `text_sent` is
    the text those streamed chunks carried (empty for a whole body). For a
    continuation request, `given` is the partial answer exactly as the request
    carried it and `backup` the behaviour that answered it (e.g. ``"restart"``).
    """

    model: str
    fault: str | None
    status: int | None
    outcome: Outcome
    started_at: float
    ended_at: float | None
    started_wall: float
    streamed: bool
    tokens_sent: int
    continuation: bool
    text_sent: str = ""
    given: str = ""
    backup: str | None = None


class Attempt:
    """The live, server-side state of one attempt; `snapshot()` freezes it."""

    def __init__(self, model: str, fault: str | None, *, streamed: bool) -> None:
        self.model = model
        self.fault = fault
        self.streamed = streamed
        self.status: int | None = None
        self.outcome: Outcome = "in_progress"
        self.tokens_sent = 0
        self.text_sent = ""
        self.continuation = False
        self.given = ""
        self.backup: str | None = None
        self.started_at = time.monotonic()
        self.started_wall = time.time()
        self.ended_at: float | None = None

    def finish(self, outcome: Outcome) -> None:
        """Close the attempt with `outcome`; a later call corrects it (a last write failed)."""
        self.outcome = outcome
        self.ended_at = time.monotonic()

    def snapshot(self) -> AttemptRecord:
        """A frozen copy of the attempt as it stands."""
        return AttemptRecord(**{f.name: getattr(self, f.name) for f in fields(AttemptRecord)})


class AttemptLog:
    """Every attempt in arrival order, safe to read from any thread."""

    def __init__(self) -> None:
        self._attempts: list[Attempt] = []
        self._lock = threading.Lock()

    def begin(self, model: str, fault: str | None, *, streamed: bool) -> Attempt:
        """Record the start of an attempt and return it for the server to fill in."""
        attempt = Attempt(model, fault, streamed=streamed)
        with self._lock:
            self._attempts.append(attempt)
        return attempt

    def records(self, model: str | None = None) -> list[AttemptRecord]:
        """Snapshots of the attempts at `model` (all models when None), oldest first."""
        with self._lock:
            attempts = list(self._attempts)
        return [a.snapshot() for a in attempts if model is None or a.model == model]

    def clear(self) -> None:
        """Forget every attempt (attempts still in flight are no longer reported)."""
        with self._lock:
            self._attempts.clear()


def request_line(
    method: str, path: str, status: int | None, record: AttemptRecord | None, seconds: float
) -> str:
    """One line for the request log: the request, its status and, for a chat attempt, its story.

    `POST /v1/chat/completions 200 model=primary stream fault=cut_after outcome=cut
    tokens=5 0.104s` - the status is `-` when no response head was sent (a reset).
    """
    parts = [method, path, str(status) if status is not None else "-"]
    if record is not None:
        parts += [f"model={record.model}", "stream" if record.streamed else "whole"]
        parts += [f"fault={record.fault}"] if record.fault else []
        parts += ["continuation"] if record.continuation else []
        parts += [f"outcome={record.outcome}", f"tokens={record.tokens_sent}"]
    parts.append(f"{seconds:.3f}s")
    return " ".join(parts)
