"""The PNG chart: the outcome matrix, and our healthy-path ratios at zero latency."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .entrants import SHORT

if TYPE_CHECKING:
    from .report import Results

__all__ = ["draw"]


_COLOURS = {
    "complete": "#4caf50",
    "error": "#ffb300",
    "truncated": "#e53935",
    "hang": "#6a1b9a",
}


def draw(results: Results, path: Path) -> None:
    """A PNG: the outcome matrix (colour: outcome, text: wall time) and our healthy ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    systems = [s for s in results.systems if any(c.system == s.key for c in results.cells)]
    scenarios = [s for s in results.scenarios if any(c.scenario == s.key for c in results.cells)]
    by_key = {(c.scenario, c.system): c for c in results.cells}
    healthy = [
        r for r in results.healthy if r.token_delay == 0.0 and r.system in ("ours", "ours_limits")
    ]
    panels = 2 if healthy else 1
    fig, axes = plt.subplots(
        1,
        panels,
        figsize=(15 if panels == 2 else 10, 0.5 * max(len(scenarios), 0.7 * len(healthy)) + 2.5),
        gridspec_kw={"width_ratios": [2.2, 1]} if panels == 2 else None,
        squeeze=False,
    )
    ax = axes[0][0]
    for row, scenario in enumerate(scenarios):
        for col, system in enumerate(systems):
            cell = by_key.get((scenario.key, system.key))
            if cell is None:
                continue
            o = cell.outcome
            ax.add_patch(
                Rectangle((col, row), 1, 1, facecolor=_COLOURS[o.kind], edgecolor="white", lw=2)
            )
            label = f"{o.wall:.1f} s" if o.kind != "hang" else "hang"
            label += f"\n{cell.primary_attempts}+{cell.backup_attempts} attempts"
            ax.text(col + 0.5, row + 0.5, label, ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(systems))
    ax.set_ylim(len(scenarios), 0)
    ax.set_xticks([i + 0.5 for i in range(len(systems))])
    ax.set_xticklabels([s.label for s in systems], rotation=20, ha="right", fontsize=9)
    ax.set_yticks([i + 0.5 for i in range(len(scenarios))])
    ax.set_yticklabels([s.label for s in scenarios], fontsize=9)
    ax.set_title("What the caller got, and the wall time", fontsize=11)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.legend(
        handles=[
            Patch(color=_COLOURS["complete"], label="complete answer"),
            Patch(color=_COLOURS["error"], label="clean error"),
            Patch(color=_COLOURS["truncated"], label="truncated, presented as success"),
            Patch(color=_COLOURS["hang"], label="hang"),
            Patch(color="white", label="* raising is our default"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 0.02 * 15 / max(len(scenarios), 1)),
        ncol=5,
        fontsize=8,
        frameon=False,
    )
    if healthy:
        ax2 = axes[0][1]
        names = [f"{r.framework} {r.call}\n{SHORT[r.system]}" for r in healthy]
        ys = list(range(len(names)))
        ax2.barh(
            [y - 0.2 for y in ys],
            [r.wall_ratio - 1 for r in healthy],
            0.4,
            left=1,
            color="#1e88e5",
            label="wall",
        )
        ax2.barh(
            [y + 0.2 for y in ys],
            [r.cpu_ratio - 1 for r in healthy],
            0.4,
            left=1,
            color="#fb8c00",
            label="CPU",
        )
        ax2.axvline(1.0, color="black", lw=1)
        ax2.axvline(1.05, color="#e53935", lw=1, ls="--", label="goal 1.05x (streamed)")
        ax2.set_yticks(ys)
        ax2.set_yticklabels(names, fontsize=7)
        ax2.invert_yaxis()
        ax2.set_title("Healthy path at zero latency, ours / bare", fontsize=11)
        ax2.set_xlabel("ratio to the bare model in the same framework", fontsize=8)
        ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
