"""Timing and comparison helpers shared by the demo and bench/: denoising loops timed step by step."""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .models import DemoModel


@dataclass(frozen=True)
class LoopTiming:
    first_loop_seconds: float  # includes compilation
    step_seconds: tuple[float, ...]  # each step of the median steady-state loop
    loop_seconds: float  # median over repetitions of the steady-state loop
    outputs: tuple[torch.Tensor, ...]  # each step's output from the last loop

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.loop_seconds / len(self.step_seconds)


def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_loop(step: Callable[[float], torch.Tensor], timesteps: Sequence[float], repeats: int = 3,
              device: torch.device | str | None = None) -> LoopTiming:
    """Run the loop once to warm up (and compile), then `repeats` more times; report the median loop."""
    with torch.no_grad():
        start = time.perf_counter()
        for t in timesteps:
            step(t)
        _sync(device)
        first = time.perf_counter() - start
        loops = []
        for _ in range(repeats):
            per_step, outputs = [], []
            loop_start = time.perf_counter()
            for t in timesteps:
                step_start = time.perf_counter()
                outputs.append(step(t))
                _sync(device)
                per_step.append(time.perf_counter() - step_start)
            loops.append((time.perf_counter() - loop_start, tuple(per_step), tuple(outputs)))
    loops.sort(key=lambda loop: loop[0])
    loop_seconds, per_step, outputs = loops[len(loops) // 2]
    return LoopTiming(first, per_step, loop_seconds, outputs)


class DiffusersHooked:
    """An eager copy of a model with diffusers' own cache hook (`enable_cache`-style), stepped with an
    explicit timestep and reset before every loop as diffusers pipelines do."""

    def __init__(self, demo: DemoModel, config: Any) -> None:
        from diffusers.hooks import HookRegistry, apply_pyramid_attention_broadcast

        self.demo = demo
        self.module = copy.deepcopy(demo.module)
        self._timestep: float | None = None
        self._registry = HookRegistry.check_if_exists_or_initialize(self.module)
        config = dataclasses.replace(config, current_timestep_callback=lambda: self._timestep)
        apply_pyramid_attention_broadcast(self.module, config)

    def reset(self) -> None:
        self._registry.reset_stateful_hooks()

    def __call__(self, timestep: float) -> torch.Tensor:
        if self._timestep is not None and timestep > self._timestep:
            self.reset()  # a new loop
        self._timestep = timestep
        return self.demo(self.module, timestep)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of `a` against reference `b`, with the reference's value range as the peak."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    peak = float(b.float().max() - b.float().min())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(peak * peak / mse)).item()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
