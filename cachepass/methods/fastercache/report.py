"""FasterCache's report, in its own words: per call, the CFG mode and call, what ran, whether the unconditional
output was estimated and which attention was extrapolated; the half-batch graph and the peak bytes held."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...report import AttentionReport, variant_reports


@dataclass(frozen=True)
class FCGraphReport(AttentionReport):
    peak_bytes: int  # the most the reported models' caches held at once in their current generation
    generation_peaks: tuple[int, ...]  # the same, for their earlier generations
    modes: tuple[str, ...]
    half_batch_graph: str  # "batch B" or why there is none

    def step_table(self, fmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [(r.generation, r.iteration, f"{r.timestep:g}", r.mode, r.call or "-", r.ran,
                 "estimated" if r.estimated else "-", ", ".join(sorted(r.extrapolated)) or "-", f"{r.cache_bytes:,}")
                for r in self.steps]
        return tabulate(rows, headers=("generation", "step", "timestep", "mode", "call", "ran", "uncond",
                                       "extrapolated", "cache bytes"), tablefmt=fmt)

    def head(self) -> str:
        return (f"graph {self.serial}: FasterCache ({self.reason}), {self.graph_nodes} nodes, half-batch graph: "
                f"{self.half_batch_graph}; cache holds {self.cache_bytes:,} bytes now, peak {self.peak_bytes:,} "
                f"bytes this generation")


def graph_report(graph: Any, owner_ids: set[int] | None) -> FCGraphReport:
    """A FasterCacheGraph's report for the models in `owner_ids` (None: every model)."""
    states, steps = graph.reported(owner_ids)
    variants = variant_reports(graph.lowered, [r.ran for r in steps], reads_per_slot=2)  # [t_2, t] per slot
    half = graph.fc.half
    return FCGraphReport(
        graph.serial, True, graph.describe(), len(graph.captured.gm.graph.nodes), variants,
        sum(s.cache_bytes() for s in states), steps, graph.plan, sites=graph.tags.sites, rejected=graph.tags.rejected,
        peak_bytes=max((s.peak_bytes for s in states), default=0),
        generation_peaks=tuple(p for s in states for p in s.generation_peaks),
        modes=tuple(s.mode or "pending" for s in states if s.iteration >= 0),
        half_batch_graph=f"batch {half.batch}" if half is not None else f"none ({graph.fc.half_reason})")
