"""What the rows' numbers mean against each other: final-latent quality against the uncached run and the
method's diffusers hook, speedups against eager and Inductor, and the first-block comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cachepass.measure import max_abs, median_ratio, psnr, rel_l2

from .configurations import CONFIGURATIONS, REFERENCE_OF
from .orchestrate import measured, slug
from .peers import METHOD


def add_quality(results: list[dict[str, Any]], out: Path) -> None:
    """Final-latent quality against the same workload's uncached eager run and against the diffusers
    hook of the same method; speedups against eager and Inductor."""
    def latent(result: dict[str, Any]) -> torch.Tensor:
        return torch.load(out / f"{result['workload']}--{slug(result['configuration'])}.pt")

    by_key = {(r["workload"], r["configuration"]): r for r in results if measured(r)}
    for result in by_key.values():
        workload = result["workload"]
        eager = by_key.get((workload, "eager"))
        inductor = by_key.get((workload, "torch.compile (inductor)"))
        hook = by_key.get((workload, REFERENCE_OF.get(result["configuration"]) or ""))
        mine = latent(result)
        result["timing"] = "paired" if "paired_loops" in result else "own worker"
        result["speedup_vs_eager"], result["speedup_vs_inductor"] = _speedups(result, eager, inductor)
        result["rel_l2_vs_uncached"] = rel_l2(mine, latent(eager)) if eager else None
        result["psnr_vs_uncached"] = psnr(mine, latent(eager)) if eager else None
        result["max_diff_vs_hook"] = max_abs(mine, latent(hook)) if hook else None
        # Equal decisions: a configuration that skipped other steps than the eager hook is not compared at equal work.
        result["same_steps_as_hook"] = (result.get("pattern") == hook.get("pattern")
                                        if hook and result.get("pattern") and hook.get("pattern") else None)


def _speedups(result: dict[str, Any], eager: dict[str, Any] | None,
              inductor: dict[str, Any] | None) -> tuple[float | None, float | None]:
    """(vs eager, vs Inductor): medians of per-round ratios from the rounds in turn; without them (the GPU
    preset, whose machine does not drift), plain ratios of the workers' loop times."""
    if "paired_loops" in result:
        vs_eager, vs_inductor = (median_ratio(base["paired_loops"], result["paired_loops"])
                                 if base and "paired_loops" in base else None for base in (eager, inductor))
        return vs_eager, vs_inductor
    return (eager["loop_seconds"] / result["loop_seconds"] if eager else None,
            inductor["loop_seconds"] / result["loop_seconds"] if inductor else None)


# cachepass's FirstBlockCache against the others at identical decisions: at least this much faster than each
# implementation under torch.compile, and faster than each in eager.
TARGET_COMPILED, TARGET_EAGER = 1.2, 1.0


def first_block_comparison(results: list[dict[str, Any]], calibrator: str | None = None) -> dict[str, Any]:
    """Per workload: how much faster cachepass FBC (composed with `calibrator`, a CALIBRATORS name, if given) is
    than every other first-block implementation of the same composition that made the same decisions (same step
    pattern), and whether the target holds: the median of per-round loop ratios of the rounds in turn, eager and
    compiled rows alike (without rounds: the ratio of the speedups over Inductor)."""
    comparison = {}
    rows_of = [c for c in CONFIGURATIONS.values() if c.method == METHOD and c.calibrator == calibrator]
    name = next((c.name for c in rows_of if c.cachepass), None)
    for workload in dict.fromkeys(r["workload"] for r in results):
        rows = {r["configuration"]: r for r in results if r["workload"] == workload}
        mine = rows.get(name)
        if mine is None or not measured(mine):
            continue
        against = [_against(mine, rows[c.name]) for c in rows_of if not c.cachepass and c.name in rows]
        compared = [a for a in against if a.get("same_steps")]
        comparison[workload] = {"cachepass": name, "pattern": mine.get("pattern"), "against": against,
                                "target_met": bool(compared) and all(a["met"] for a in compared)}
    return comparison


def _against(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    configuration = CONFIGURATIONS[other["configuration"]]
    entry: dict[str, Any] = {"configuration": configuration.name, "family": configuration.family,
                             "compiled": configuration.compiled}
    if not measured(other):
        return {**entry, "not_run": other.get("skipped") or "failed"}
    if "paired_loops" in mine and "paired_loops" in other:
        ratio = median_ratio(other["paired_loops"], mine["paired_loops"])
    else:
        ratio = (mine["speedup_vs_inductor"] / other["speedup_vs_inductor"]
                 if mine.get("speedup_vs_inductor") and other.get("speedup_vs_inductor") else None)
    needed = TARGET_COMPILED if configuration.compiled else TARGET_EAGER
    same = other.get("pattern") is not None and other.get("pattern") == mine.get("pattern")
    met = same and ratio is not None and (ratio >= needed if configuration.compiled else ratio > needed)
    # What cachepass could reach with no overhead at all (its variants alone, inside the same rounds' loops):
    # at equal decisions the work is equal, and only the other's overhead is left to win.
    bound = (median_ratio(other["paired_loops"], mine["paired_ideal"])
             if "paired_ideal" in mine and "paired_loops" in other else None)
    return {**entry, "same_steps": same, "cachepass_faster": ratio, "needed": needed, "met": met,
            "zero_overhead_bound": bound}
