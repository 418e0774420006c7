"""PAB's report section: its graph report (the attention sites, a step table of the layers each step computed
and reused) and the plan table `cachepass dump` writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from ...compiler.attention import AttentionSite
from ...report import AttentionReport
from .plan import Plan, StepDecision, variant_name


@dataclass(frozen=True)
class PABGraphReport(AttentionReport):
    def step_table(self, fmt: str = "simple") -> str:
        return step_table(self.steps, self.sites, fmt)


def plan_table(plan: Plan, sites: Sequence[AttentionSite], timesteps: Sequence[float], fmt: str = "simple") -> str:
    """Each step of a schedule: timestep, variant, which layers compute and which reuse."""
    return _steps_table(plan.simulate(timesteps), sites, fmt)


def step_table(steps: Sequence[Any], sites: Sequence[AttentionSite], fmt: str = "simple") -> str:
    return _steps_table(steps, sites, fmt)


def _reused(step: Any) -> frozenset:
    """What a step did not compute: a runtime record's `reused`, or a plan decision's `reuse`."""
    return step.reuse if isinstance(step, StepDecision) else step.reused


def _steps_table(steps: Sequence[Any], sites: Sequence[AttentionSite], fmt: str) -> str:
    cached = [s for s in sites if s.cached]
    rows = []
    for step in steps:
        reused = _reused(step)
        reads = [s.name for s in cached if s.cache_kind in reused]
        rows.append((step.iteration, f"{step.timestep:g}", variant_name(reused), len(cached) - len(reads), len(reads),
                     ", ".join(reads) or "-"))
    return tabulate(rows, headers=("step", "timestep", "variant", "computed", "reused", "reused layers"),
                    tablefmt=fmt)
