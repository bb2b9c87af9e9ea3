"""Running a system against a scenario and judging what the caller got.

A cell is one call: a fresh client of one system, one scenario's faults, the
question, and a cap. Its outcome compares the delivered text with the
canonical answer:

- ``complete``: exactly the canonical answer;
- ``error``: an exception reached the caller (a clean error; its type is kept);
- ``truncated``: no exception, but the text differs - a truncated or garbled
  answer presented as a success; ``lost`` and ``extra`` count the answer's
  characters missing from it and the characters it added (e.g. repeated);
- ``hang``: no end within the cap; the call is cancelled.
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fallback_core.testing import AttemptRecord, Fault, parse_backup

from .scenarios import ANSWER, PRIMARY, QUESTION, Flapping, Scenario
from .server import RemoteFaultServer
from .systems import Client, System

__all__ = [
    "CAP",
    "Cell",
    "FlappingRun",
    "Outcome",
    "call",
    "compare",
    "judge",
    "run_cell",
    "run_flapping",
    "run_matrix",
    "seam_held",
]

CAP = 20.0
"""Seconds a call may take before it counts as a hang and is cancelled."""


def compare(text: str, answer: str = ANSWER) -> tuple[int, int]:
    """(lost, extra): characters of `answer` missing from `text`, and characters `text` adds."""
    lost = extra = 0
    matcher = difflib.SequenceMatcher(None, answer, text, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            lost += i2 - i1
        if tag in ("insert", "replace"):
            extra += j2 - j1
    return lost, extra


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call delivered, judged against the canonical answer."""

    kind: str  # complete | error | truncated | hang
    error: str | None
    delivered: int
    lost: int
    extra: int
    wall: float


def judge(text: str, error: BaseException | None, hung: bool, wall: float) -> Outcome:
    """The outcome of a call that delivered `text` and then raised `error` (or hung)."""
    lost, extra = compare(text)
    if hung:
        kind = "hang"
    elif error is not None:
        kind = "error"
    elif text == ANSWER:
        kind = "complete"
    else:
        kind = "truncated"
    name = type(error).__name__ if error is not None else None
    return Outcome(kind, name, len(text), lost, extra, wall)


async def call(client: Client, cap: float = CAP) -> tuple[Outcome, str]:
    """Stream one answer from `client`, within `cap` seconds; the outcome and the text."""
    pieces: list[str] = []

    async def consume() -> None:
        async for piece in client.stream(QUESTION):
            pieces.append(piece)

    started = time.perf_counter()
    task = asyncio.ensure_future(consume())
    done, _ = await asyncio.wait({task}, timeout=cap)
    wall = time.perf_counter() - started
    error: BaseException | None = None
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=5.0)
    else:
        error = task.exception()
    text = "".join(pieces)
    return judge(text, error, not done, wall), text


@dataclass(frozen=True, slots=True)
class Cell:
    """One system against one scenario.

    ``seam_held`` / ``seam_held_for``: the characters and seconds a continuation
    was held back at the seam, for systems that report it (ours), when one joined.
    """

    scenario: str
    system: str
    outcome: Outcome
    primary_attempts: int
    backup_attempts: int
    expected: str
    seam_held: int | None = None
    seam_held_for: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("outcome"))
        return data


def _counts(records: Sequence[AttemptRecord], backup: str) -> tuple[int, int]:
    return (
        sum(r.model == PRIMARY for r in records),
        sum(r.model == backup for r in records),
    )


async def run_cell(server: RemoteFaultServer, system: System, scenario: Scenario) -> Cell:
    """A fresh client of `system`, against `scenario`'s faults set afresh."""
    server.reset()
    server.set_fault(PRIMARY, scenario.primary)
    server.set_fault(scenario.backup_model, scenario.backup)
    if scenario.backup_behaviour is not None:
        server.set_backup(scenario.backup_model, parse_backup(scenario.backup_behaviour))
    client = system.build(server.base_url, scenario)
    try:
        outcome, _ = await call(client)
    finally:
        await client.aclose()
    primary, backup = _counts(server.attempts(), scenario.backup_model)
    held = seam_held(getattr(client, "trace", None))
    return Cell(
        scenario.key,
        system.key,
        outcome,
        primary,
        backup,
        scenario.expected,
        *(held or (None, None)),
    )


def seam_held(trace: Mapping[str, Any] | None) -> tuple[int, float] | None:
    """Characters and seconds held at the seam by the attempt that joined, from a trace dict."""
    joined = [
        a
        for a in (trace or {}).get("attempts", ())
        if a.get("continuation") and a["outcome"] == "ok"
    ]
    if not joined:
        return None
    return joined[-1]["seam_held"], joined[-1]["seam_held_for"]


async def run_matrix(
    server: RemoteFaultServer,
    systems: Sequence[System],
    scenarios: Sequence[Scenario],
    *,
    progress: bool = True,
) -> list[Cell]:
    """Every system against every scenario, one cell at a time."""
    cells = []
    for scenario in scenarios:
        for system in systems:
            cell = await run_cell(server, system, scenario)
            cells.append(cell)
            if progress:
                o = cell.outcome
                print(
                    f"  {scenario.key:<24} {system.key:<20} {o.kind:<9} "
                    f"{o.error or '':<24} {o.wall:6.2f}s  "
                    f"p={cell.primary_attempts} b={cell.backup_attempts} "
                    f"lost={o.lost} extra={o.extra}",
                    flush=True,
                )
    return cells


@dataclass(slots=True)
class FlappingRun:
    """One system over a sequence of requests while its primary flaps.

    Times are seconds from the start of the outage (when the fault was set).
    """

    system: str
    requests: int
    down_for: float
    outcomes: Counter[str] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    primary_attempts: int = 0
    primary_attempts_during_outage: int = 0
    primary_back_at: float | None = None
    """When the first primary attempt that went on to serve an answer started."""
    wall: float = 0.0
    walls: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "system",
                "requests",
                "down_for",
                "primary_attempts",
                "primary_attempts_during_outage",
                "primary_back_at",
                "wall",
                "walls",
            )
        }
        data["outcomes"] = dict(self.outcomes)
        data["served_by"] = dict(self.served_by)
        return data


def _served_by(records: Sequence[AttemptRecord]) -> str:
    completed = [r.model for r in records if r.outcome == "completed"]
    return completed[-1] if completed else "none"


async def run_flapping(
    server: RemoteFaultServer, system: System, flapping: Flapping, scenario: Scenario
) -> FlappingRun:
    """`flapping.requests` calls in a row through one client while the primary flaps."""
    server.reset()
    client = system.build(server.base_url, scenario)
    run = FlappingRun(system.key, flapping.requests, flapping.down_for)
    server.set_fault(PRIMARY, Fault.flapping(down_for=flapping.down_for))
    # The server's clock is CLOCK_MONOTONIC too, so its records compare with this.
    outage_start = time.monotonic()
    seen = 0
    try:
        for _ in range(flapping.requests):
            outcome, _ = await call(client)
            records = server.attempts()
            new, seen = records[seen:], len(records)
            served = _served_by(new) if outcome.kind == "complete" else "none"
            run.outcomes[outcome.kind] += 1
            run.served_by[served] += 1
            run.walls.append(round(outcome.wall, 4))
    finally:
        await client.aclose()
    run.wall = time.monotonic() - outage_start
    primary = [r for r in server.attempts() if r.model == PRIMARY]
    run.primary_attempts = len(primary)
    run.primary_attempts_during_outage = sum(
        r.started_at < outage_start + flapping.down_for for r in primary
    )
    back = [r.started_at for r in primary if r.outcome == "completed"]
    if back:
        run.primary_back_at = round(back[0] - outage_start, 3)
    return run
