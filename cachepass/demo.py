"""`cachepass demo`: eager vs diffusers' PAB hook vs Inductor vs cachepass on a small built-in model.

Everything is built from configs with random weights, so it runs anywhere with no downloads. The
loop is a classifier-free-guidance Euler loop (batch 2), see `measure.denoise`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tabulate import tabulate

from .api import reset
from .measure import DiffusersHooked, max_abs, rel_l2, time_in_turn
from .models import build
from .plan import timesteps_linspace
from .report import report, schedule_line


@dataclass(frozen=True)
class DemoRow:
    name: str
    first_loop_seconds: float  # compilation included
    loop_seconds: float  # median over rounds
    vs_eager: float  # median over rounds of eager loop / this loop
    vs_inductor: float
    vs_uncached: float  # relative L2 of the final latent against eager without caching
    vs_hook: float | None  # max abs difference of the final latent against diffusers' hook


def run_demo(model_name: str = "cogvideox", size: str = "small", steps: int = 50, rounds: int = 3,
             spatial_skip: int = 2, window: tuple[float, float] = (100, 800)) -> str:
    from diffusers import PyramidAttentionBroadcastConfig

    demo = build(model_name, size)
    timesteps = timesteps_linspace(steps)
    config = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=spatial_skip,
                                             spatial_attention_timestep_skip_range=window)
    cached = torch.compile(demo.module, backend="cachepass", options={"cache": config})
    runs = {
        "eager": demo.module,
        "diffusers PAB hook (eager)": DiffusersHooked(demo, config),
        "torch.compile (inductor)": torch.compile(demo.module),
        "cachepass PAB (inductor)": cached,
    }
    # In turn, not one after the other: a shared CPU's speed drifts more than the differences measured here.
    timing = time_in_turn(demo, runs, timesteps, rounds)
    final = {name: loops[-1].final for name, loops in timing.rounds.items()}
    rows = [DemoRow(name, timing.first_loop_seconds[name], timing.median_seconds(name),
                    timing.speedup(name, "eager"), timing.speedup(name, "torch.compile (inductor)"),
                    rel_l2(final[name], final["eager"]),
                    max_abs(final[name], final["diffusers PAB hook (eager)"]) if "PAB" in name else None)
            for name in runs]
    text = [f"cachepass demo: {model_name} ({size}, random weights), {steps}-step CFG loop (batch 2) from "
            f"timestep 999 to 0, {torch.get_num_threads()} CPU threads; a warm-up loop each, then {rounds} rounds "
            f"of one loop each in turn (medians)",
            _table(rows, steps),
            _plan_summary(cached)]
    reset(cached)
    return "\n\n".join(text)


def _table(rows: list[DemoRow], steps: int) -> str:
    body = [(r.name, f"{r.first_loop_seconds:.1f}", f"{r.loop_seconds:.3f}", f"{1000 * r.loop_seconds / steps:.2f}",
             f"{r.vs_eager:.2f}x", f"{r.vs_inductor:.2f}x", f"{r.vs_uncached:.2e}",
             "-" if r.vs_hook is None else f"{r.vs_hook:.1e}") for r in rows]
    return tabulate(body, headers=("configuration", "warm-up loop s", "loop s", "ms/step", "vs eager",
                                   "vs inductor", "final rel L2 vs eager", "final max diff vs hook"))


def _plan_summary(compiled) -> str:
    [graph] = report(compiled).graphs
    last_loop = [s for s in graph.steps if s.generation == graph.steps[-1].generation]
    return "\n".join([
        f"plan: {graph.reason}",
        f"steps (C = compute and write the cache, R = read it): {schedule_line(last_loop)}",
        "",
        graph.variant_table(),
        "",
        graph.tag_table(),
    ])
