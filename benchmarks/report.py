"""The results as markdown tables, JSON and a PNG chart, with the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .chart import draw
from .healthy import PathResult
from .healthy import as_dict as path_dict
from .healthy_report import goals_table, healthy_section, load_table
from .load import LoadResult
from .load import as_dict as load_dict
from .measure import Cell, FlappingRun
from .scenarios import ANSWER, TOKEN_DELAY, Flapping, Scenario
from .systems import SYSTEMS, System

__all__ = ["Results", "machine", "write"]

_PACKAGES = ("langchain-core", "langchain-openai", "llama-index-core", "litellm", "openai", "httpx")


def machine() -> dict[str, Any]:
    """The CPU, cores, memory, OS, Python and package versions of this run."""
    cpu = platform.processor() or "unknown"
    memory = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = next(int(line.split()[1]) for line in info if line.startswith("MemTotal"))
            memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


@dataclass
class Results:
    """Everything one run measured."""

    quick: bool
    scenarios: Sequence[Scenario]
    systems: Sequence[System] = SYSTEMS
    cells: list[Cell] = field(default_factory=list)
    flapping: Flapping | None = None
    flapping_runs: list[FlappingRun] = field(default_factory=list)
    healthy: list[PathResult] = field(default_factory=list)
    load: list[LoadResult] = field(default_factory=list)
    fleet: list[dict[str, Any]] = field(default_factory=list)
    fleet_latency: list[dict[str, Any]] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration: float = 0.0
    machine: dict[str, Any] = field(default_factory=machine)

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.started.isoformat(timespec="seconds"),
            "duration_seconds": round(self.duration, 1),
            "quick": self.quick,
            "machine": self.machine,
            "answer_chars": len(ANSWER),
            "token_delay": TOKEN_DELAY,
            "systems": [{"key": s.key, "label": s.label, "config": s.config} for s in self.systems],
            "scenarios": [
                {"key": s.key, "title": s.title, "expected": s.expected} for s in self.scenarios
            ],
            "cells": [cell.to_dict() for cell in self.cells],
            "flapping": [run.to_dict() for run in self.flapping_runs],
            "healthy": [path_dict(r) for r in self.healthy],
            "load": [load_dict(r) for r in self.load],
            "fleet": self.fleet,
            "fleet_latency": self.fleet_latency,
        }


# Markdown


def _cell_text(cell: Cell) -> str:
    o = cell.outcome
    attempts = f"{cell.primary_attempts}+{cell.backup_attempts}"
    if o.kind == "complete":
        what = "complete"
    elif o.kind == "error":
        what = f"error `{o.error}`"
    elif o.kind == "truncated":
        what = f"**TRUNCATED as success** (-{o.lost}/+{o.extra} chars)"
    else:
        what = "**HANG**"
    return f"{what}<br>{o.wall:.2f} s, {attempts}"


def matrix_table(results: Results) -> list[str]:
    """Scenario rows, system columns; each cell: outcome, wall time, attempts primary+backup."""
    systems = [s for s in results.systems if any(c.system == s.key for c in results.cells)]
    by_key = {(c.scenario, c.system): c for c in results.cells}
    lines = [
        "| scenario | " + " | ".join(s.label for s in systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for scenario in results.scenarios:
        row = [c for s in systems if (c := by_key.get((scenario.key, s.key))) is not None]
        if not row:
            continue
        lines.append(f"| {scenario.label} | " + " | ".join(_cell_text(c) for c in row) + " |")
    lines.append("| **complete answers** | " + " | ".join(_totals(results, systems)) + " |")
    return lines


def _totals(results: Results, systems: Sequence[System]) -> list[str]:
    """Per system: complete answers where one is possible, and answers never to be trusted."""
    totals = []
    for system in systems:
        cells = [c for c in results.cells if c.system == system.key]
        possible = [c for c in cells if c.expected == "complete"]
        complete = sum(c.outcome.kind == "complete" for c in possible)
        bad = sum(c.outcome.kind in ("truncated", "hang") for c in cells)
        bad_text = f", **{bad} truncated/hung**" if bad else ""
        totals.append(f"**{complete}/{len(possible)}**{bad_text}")
    return totals


_SHORT = {
    "complete": "complete",
    "error": "error",
    "truncated": "**TRUNCATED**",
    "hang": "**HANG**",
}


def summary_table(results: Results) -> list[str]:
    """The compact matrix the README quotes: outcome and wall time per cell."""
    systems = [s for s in results.systems if any(c.system == s.key for c in results.cells)]
    by_key = {(c.scenario, c.system): c for c in results.cells}
    lines = [
        "| scenario | " + " | ".join(s.label for s in systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for scenario in results.scenarios:
        row = [c for s in systems if (c := by_key.get((scenario.key, s.key))) is not None]
        if row:
            lines.append(
                f"| {scenario.label} | "
                + " | ".join(f"{_SHORT[c.outcome.kind]} {c.outcome.wall:.2f} s" for c in row)
                + " |"
            )
    lines.append("| **complete answers** | " + " | ".join(_totals(results, systems)) + " |")
    return lines


def seam_table(results: Results) -> list[str]:
    """Per scenario where a continuation joined: what the seam held back, per system."""
    held = [c for c in results.cells if c.seam_held is not None]
    systems = [s for s in results.systems if any(c.system == s.key for c in held)]
    if not held:
        return []
    by_key = {(c.scenario, c.system): c for c in held}
    lines = [
        "| scenario | " + " | ".join(s.label for s in systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for scenario in results.scenarios:
        row = [by_key.get((scenario.key, s.key)) for s in systems]
        if any(row):
            lines.append(f"| {scenario.label} | " + " | ".join(map(_held_text, row)) + " |")
    return lines


def _held_text(cell: Cell | None) -> str:
    if cell is None or cell.seam_held is None:
        return "-"
    return f"{cell.seam_held} chars, {(cell.seam_held_for or 0.0) * 1000:.0f} ms"


def flapping_table(results: Results) -> list[str]:
    labels = {s.key: s.label for s in results.systems}
    lines = [
        "| system | complete | served by primary / backup | primary attempts (in the outage) "
        "| primary serves again at | slowest request | all requests |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in results.flapping_runs:
        at = run.primary_back_at
        back = "never" if at is None else f"{at:.1f} s"
        lines.append(
            f"| {labels.get(run.system, run.system)} "
            f"| {run.outcomes.get('complete', 0)}/{run.requests} "
            f"| {run.served_by.get('primary', 0)} / {run.served_by.get('backup', 0)} "
            f"| {run.primary_attempts} ({run.primary_attempts_during_outage}) "
            f"| {back} | {max(run.walls, default=0.0):.2f} s | {run.wall:.1f} s |"
        )
    return lines


def _machine_line(m: Mapping[str, Any]) -> str:
    memory = f", {m['memory']} RAM" if m.get("memory") else ""
    return f"{m['cpu']}, {m['cores']} cores{memory}, {m['os']}, Python {m['python']}"


def markdown(results: Results) -> str:
    """The whole report."""
    m = results.machine
    versions = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    date = results.started.strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        f"Generated by `{'python -m benchmarks --quick' if results.quick else 'make bench'}` "
        f"on {date}, "
        f"in {results.duration / 60:.1f} minutes.",
        f"Machine: {_machine_line(m)}.",
        f"Packages: {versions}.",
        "",
        "Every system streams the same question from the same local fault server (run in a "
        "child process, so its CPU and memory are not counted) in one run; each cell gets a "
        f"fresh client and freshly set faults. Primary and backup share one {len(ANSWER)}-"
        f"character canonical answer, streamed a word per chunk every "
        f"{TOKEN_DELAY * 1000:g} ms, so a correct fallback reproduces it exactly. Outcomes: "
        "*complete* (exactly the canonical answer), *error* (an exception reached the caller), "
        "*TRUNCATED as success* (the stream ended quietly with a different text: characters "
        "lost / extra), *HANG* (no end within 20 s; cancelled). Each cell also gives the wall "
        "time and the attempts primary+backup the server saw.",
        "",
        "## Systems",
        "",
        "| system | configuration |",
        "|---|---|",
        *(f"| {s.label} | `{s.config}` |" for s in results.systems),
        "",
        "## Summary",
        "",
        *summary_table(results),
        "",
        _CONTENT_POLICY_NOTE,
        "",
        "## Scenarios in detail",
        "",
        "Each cell: the outcome; the wall time; the attempts primary+backup the server saw.",
        "",
        *matrix_table(results),
    ]
    seam = seam_table(results)
    if seam:
        out += [
            "",
            "## Held at the seam",
            "",
            "Characters of the backup's continuation held back before the seam could judge "
            "them (a replay to drop, a restart to refuse), and for how long from its first "
            "text; the rest streamed straight through. Only our adapters report it.",
            "",
            *seam,
        ]
    if results.flapping_runs and results.flapping is not None:
        f = results.flapping
        out += [
            "",
            f"## Flapping primary: {f.requests} requests in a row, the primary down (503) "
            f"for the first {f.down_for:g} s",
            "",
            *flapping_table(results),
        ]
    if results.healthy or results.load:
        out += [
            "",
            "## Issue 15's goals on the healthy path",
            "",
            *goals_table(results.healthy, results.load),
        ]
    if results.healthy:
        out += ["", *healthy_section(results.healthy)]
    if results.load:
        out += [
            "",
            "## Load: concurrent async streams",
            "",
            "All streams started at once with `asyncio.gather`; a fifth through a primary "
            "cut mid-answer (`X-Fault: cut_after=N`), for the bare model as for ours. Our "
            "stall limits are 20 s here (the README's recommendation). Each system's pass runs "
            "in a fresh process: memory per stream in flight is the rise of its resident set "
            "(peak `VmHWM` over `VmRSS` at the start) over the most streams in flight, and "
            "tracemalloc's peak above the start from a smaller pass of healthy streams.",
            "",
            *load_table(results.load),
        ]
    if results.fleet:
        out += ["", *fleet_section(results.fleet, results.fleet_latency)]
    return "\n".join(out) + "\n"


def fleet_section(
    rows: Sequence[Mapping[str, Any]], latency: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The fleet table: 4 worker processes, a flapping primary, local vs Redis health."""
    lines = [
        "## A fleet of 4 processes, flapping primary: local vs Redis health",
        "",
        "Four worker processes (two sync, two async; `benchmarks/fleet.py`) call a "
        "primary-backup chain in a loop on an unpaced fault server; the primary answers 503 "
        "for the outage, then recovers. Breaker: threshold 3, cooldown 1 s. *Bound*: what "
        "shared health allows - the threshold, the attempts already in flight when the circuit "
        "opened (one per other worker) and one probe per cooldown. *Added latency*: the time a "
        "call spent consulting health (one Redis round trip per attempt, plus the last "
        "verdict's), on loopback.",
        "",
        "| health | primary attempts in the outage | bound (shared) | requests served "
        "| back on primary after recovery (slowest worker) | added latency per call: median "
        "| p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        back = r["back_on_primary_s_max"]
        lines.append(
            f"| {r['health']} | {r['primary_attempts_during_outage']} "
            f"| {r['bound_with_shared_health']} | {r['requests_served']} "
            f"| {'never' if back is None else f'{back:.2f} s'} "
            f"| {r['added_latency_ms_median']:.3f} ms | {r['added_latency_ms_p99']:.3f} ms |"
        )
    lines += [
        "",
        "In the fleet the workers, Redis and the fault server share the machine's cores, so its "
        "latencies include waiting for a CPU. Without a fleet - one process, calls in a row on "
        "two in-memory hops - health adds per call:",
        "",
        "| health | driver | calls | added latency per call: median | p99 |",
        "|---|---|---|---|---|",
        *(
            f"| {r['health']} | {r['driver']} | {r['calls']} "
            f"| {r['added_latency_ms_median']:.3f} ms | {r['added_latency_ms_p99']:.3f} ms |"
            for r in latency
        ),
    ]
    return lines


_CONTENT_POLICY_NOTE = (
    "\\* Raising is the right ending here, so the scenario is left out of the "
    "complete-answer count for every system: our adapters raise a content-policy refusal "
    "by default rather than send the same prompt elsewhere (`rules={Category.CONTENT_POLICY: "
    '"fallback"}` changes that), and a backup that starts the answer over in other words '
    "cannot finish it (with no other backup, the call ends in a clean error carrying the "
    "text delivered)."
)


def write(results: Results, directory: Path) -> dict[str, Path]:
    """Write results.md, results.json and results.png into `directory`; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": directory / "results.md",
        "json": directory / "results.json",
        "chart": directory / "results.png",
    }
    paths["markdown"].write_text(markdown(results), encoding="utf-8")
    paths["json"].write_text(json.dumps(results.to_dict(), indent=2) + "\n", encoding="utf-8")
    draw(results, paths["chart"])
    return paths
