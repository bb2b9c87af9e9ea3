"""The PNG chart: the outcome matrix, and the healthy-path overhead ratios."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
    """A PNG: the outcome matrix (colour: outcome, text: wall time) and the overhead ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    systems = [s for s in results.systems if any(c.system == s.key for c in results.cells)]
    scenarios = [s for s in results.scenarios if any(c.scenario == s.key for c in results.cells)]
    by_key = {(c.scenario, c.system): c for c in results.cells}
    panels = 2 if results.overhead else 1
    fig, axes = plt.subplots(
        1,
        panels,
        figsize=(15 if panels == 2 else 10, 0.5 * len(scenarios) + 2.5),
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
    if results.overhead:
        ax2 = axes[0][1]
        names = [
            f"{r.framework} {r.mode}\n"
            + (f"{r.token_delay * 1000:g} ms/token" if r.token_delay else "no delay")
            for r in results.overhead
        ]
        ratios = [r.ratio for r in results.overhead]
        low = [max(r.ratio - r.ratio_p25, 0.0) for r in results.overhead]
        high = [max(r.ratio_p75 - r.ratio, 0.0) for r in results.overhead]
        ys = list(range(len(names)))
        ax2.barh(ys, [x - 1 for x in ratios], left=1, xerr=[low, high], color="#1e88e5")
        ax2.axvline(1.0, color="black", lw=1)
        ax2.axvline(1.03, color="#e53935", lw=1, ls="--", label="target 1.03x")
        ax2.set_yticks(ys)
        ax2.set_yticklabels(names, fontsize=8)
        ax2.invert_yaxis()
        ax2.set_title("Healthy-path wall time, ours / bare", fontsize=11)
        ax2.set_xlabel("ratio (bar: mean; whiskers: p25-p75 of pairs)", fontsize=8)
        ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
