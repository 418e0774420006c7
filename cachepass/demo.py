"""`cachepass demo`: eager vs diffusers' PAB hook vs Inductor vs cachepass on a small built-in model.

Everything is built from configs with random weights, so it runs anywhere with no downloads. The
loop is a classifier-free-guidance Euler loop (batch 2), see `measure.denoise`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tabulate import tabulate

from .api import reset
from .measure import DiffusersHooked, LoopTiming, max_abs, rel_l2, time_denoise
from .models import build
from .plan import timesteps_linspace
from .report import report, schedule_line


@dataclass(frozen=True)
class DemoRow:
    name: str
    timing: LoopTiming
    vs_uncached: float  # relative L2 of the final latent against eager without caching
    vs_hook: float | None  # max abs difference of the final latent against diffusers' hook


def run_demo(model_name: str = "cogvideox", size: str = "small", steps: int = 50, repeats: int = 3,
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
    timings = {name: time_denoise(demo, module, timesteps, repeats) for name, module in runs.items()}
    eager, hook = timings["eager"], timings["diffusers PAB hook (eager)"]
    rows = [DemoRow(name, timing, rel_l2(timing.final, eager.final),
                    max_abs(timing.final, hook.final) if "PAB" in name else None)
            for name, timing in timings.items()]
    text = [f"cachepass demo: {model_name} ({size}, random weights), {steps}-step CFG loop (batch 2) from "
            f"timestep 999 to 0, {torch.get_num_threads()} CPU threads, median of {repeats} loops after a warm-up",
            _table(rows, eager.loop_seconds, timings["torch.compile (inductor)"].loop_seconds),
            _plan_summary(cached)]
    reset(cached)
    return "\n\n".join(text)


def _table(rows: list[DemoRow], eager_seconds: float, inductor_seconds: float) -> str:
    body = [(r.name, f"{r.timing.first_loop_seconds:.1f}", f"{r.timing.loop_seconds:.3f}", f"{r.timing.ms_per_step:.2f}",
             f"{eager_seconds / r.timing.loop_seconds:.2f}x", f"{inductor_seconds / r.timing.loop_seconds:.2f}x",
             f"{r.vs_uncached:.2e}", "-" if r.vs_hook is None else f"{r.vs_hook:.1e}") for r in rows]
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
