"""Denoising loops for the demo and bench/: a real classifier-free-guidance Euler loop, timed step by
step, plus the quality metrics the benchmark reports.

Every step feeds the current latent, twice (unconditional and conditional text rows of one batch of
2, as diffusers' CogVideoX and Latte pipelines do), combines the two predictions with the guidance
scale and takes an Euler step. The final latent therefore depends on every step, so cache
approximations show up in its error against the uncached loop. Each call runs inside the model's
`cache_context`, with the step fields a diffusers pipeline passes (see `step_context`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .models import DemoModel


@dataclass(frozen=True)
class Trajectory:
    final: torch.Tensor  # the latent after the last step
    step_seconds: tuple[float, ...]
    seconds: float


@dataclass(frozen=True)
class LoopTiming:
    first_loop_seconds: float  # the warm-up loop, compilation included
    loop_seconds: float  # median steady-state loop
    step_seconds: tuple[float, ...]  # each step of the median loop
    final: torch.Tensor  # final latent of the median loop

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.loop_seconds / len(self.step_seconds)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# NOTE [The loop's cache_context]
# diffusers' Wan pipeline (0.42.1) calls its transformer inside `cache_context("cond", step_index=i,
# sigma=float(scheduler.sigmas[i]), num_inference_steps=len(timesteps))` ("uncond" for the CFG call);
# CogVideoX's batched-CFG pipeline names its one call "cond_uncond". Methods that decide from those fields
# (SeaCache: diffusers' hook and cachepass alike) compute every step without them, so the loop enters the
# same context around every call of a model that has one (a diffusers model, compiled or not, or
# DiffusersHooked); the others (the peers' wrappers, plain modules) are called as before. Always, not
# only for the methods that read the fields: no other hook or cachepass method reads them (they see the
# context's name only, one per model either way), and entering costs ~10 us per call on CPU
# (diffusers' `_set_cache_context`: a walk over the model's few hook registries), far below a step's
# timing noise. The sigma is the loop's own: the Euler step below moves by (t_next - t) / 1000.
def step_context(module: Any, name: str, step_index: int, sigma: float,
                 num_inference_steps: int) -> contextlib.AbstractContextManager[Any]:
    """`module.cache_context(name, step_index=, sigma=, num_inference_steps=)` where the module has one (NOTE
    [The loop's cache_context]), else nothing."""
    enter = getattr(module, "cache_context", None)
    if enter is None:
        return contextlib.nullcontext()
    return enter(name, step_index=step_index, sigma=sigma, num_inference_steps=num_inference_steps)


def denoise(demo: DemoModel, module: Callable[..., Any], timesteps: Sequence[float], guidance: float | None = 5.0,
            time_steps: bool = True) -> Trajectory:
    """One generation: `len(timesteps)` CFG Euler steps from the model's seeded latent."""
    batch = 2 if guidance is not None else 1
    kwargs = demo.inputs(timesteps[0], batch)
    latent = kwargs[demo.latent_key][:1].clone()
    channels = latent.shape[demo.channel_dim]
    context = "cond_uncond" if guidance is not None else "cond"  # as CogVideoX's and Flux's pipelines name it
    per_step = []
    start = time.perf_counter()
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            step_start = time.perf_counter()
            kwargs[demo.latent_key] = latent.expand(batch, *latent.shape[1:]).contiguous()
            kwargs["timestep"] = torch.full((batch,), float(t), device=demo.device)
            with step_context(module, context, i, float(t) / 1000.0, len(timesteps)):
                out = module(**kwargs)
            out = out[0] if isinstance(out, (tuple, list)) else out
            velocity = out.narrow(demo.channel_dim, 0, channels)
            if guidance is not None:
                uncond, cond = velocity.chunk(2)
                velocity = uncond + guidance * (cond - uncond)
            t_next = timesteps[i + 1] if i + 1 < len(timesteps) else 0.0
            latent = latent + (t_next - t) / 1000.0 * velocity
            if time_steps:
                sync(demo.device)
                per_step.append(time.perf_counter() - step_start)
        sync(demo.device)
    return Trajectory(latent, tuple(per_step), time.perf_counter() - start)


def time_denoise(demo: DemoModel, module: Callable[..., Any], timesteps: Sequence[float], repeats: int = 3,
                 guidance: float | None = 5.0, after_warmup: Callable[[], None] | None = None,
                 after_loop: Callable[[], None] | None = None) -> LoopTiming:
    """A warm-up loop (which compiles), then `repeats` timed loops; the median loop is reported.

    Steps are synchronised one by one so that each step's time is its own. `after_warmup` and
    `after_loop` let a caller interleave its own measurements with the timed loops."""
    first = denoise(demo, module, timesteps, guidance)
    if after_warmup is not None:
        after_warmup()
    loops = []
    for _ in range(repeats):
        loops.append(denoise(demo, module, timesteps, guidance))
        if after_loop is not None:
            after_loop()
    loops.sort(key=lambda loop: loop.seconds)
    median_loop = loops[len(loops) // 2]
    return LoopTiming(first.seconds, median_loop.seconds, median_loop.step_seconds, median_loop.final)


@dataclass(frozen=True)
class InTurnTiming:
    """Loops of several configurations taken in turn: round after round, each runs one loop."""

    first_loop_seconds: dict[str, float]  # the warm-up loop of each, compilation included
    rounds: dict[str, list[Trajectory]]  # each configuration's loop of every round

    def seconds(self, name: str) -> list[float]:
        return [loop.seconds for loop in self.rounds[name]]

    def median_seconds(self, name: str) -> float:
        return statistics.median(self.seconds(name))

    def speedup(self, name: str, baseline: str) -> float:
        """Median over rounds of baseline loop / this loop: drift slower than a round cancels."""
        return median_ratio(self.seconds(baseline), self.seconds(name))


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of per-round ratios: a figure measured in rounds, free of drift slower than a round."""
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))


def time_in_turn(demo: DemoModel, modules: dict[str, Callable[..., Any]], timesteps: Sequence[float],
                 rounds: int = 5, guidance: float | None = 5.0, after_warmup: Callable[[], None] | None = None,
                 after_loop: Callable[[str], None] | None = None,
                 progress: Callable[[str, str], None] | None = None) -> InTurnTiming:
    """Time several configurations side by side on a machine whose speed drifts (a shared CPU drifts by
    +-20% over seconds): a warm-up loop each, then `rounds` rounds of one loop each, in an order that
    rotates every round so that no configuration always follows the same one. `after_loop(name)` runs
    after each timed loop, for measurements that must see the same machine state as that loop.
    `progress(name, what)` is told before each warm-up loop and after every loop."""
    say = progress or (lambda name, what: None)
    first = {}
    for name, module in modules.items():
        say(name, "warm-up loop ...")
        first[name] = denoise(demo, module, timesteps, guidance, time_steps=False).seconds
        say(name, f"warm-up loop took {first[name]:.1f} s")
    if after_warmup is not None:
        after_warmup()
    names = list(modules)
    loops: dict[str, list[Trajectory]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in [*names[shift:], *names[:shift]]:
            loops[name].append(denoise(demo, modules[name], timesteps, guidance))
            say(name, f"round {round_ + 1}/{rounds}: loop {loops[name][-1].seconds:.3f} s")
            if after_loop is not None:
                after_loop(name)
    return InTurnTiming(first, loops)


class DiffusersHooked:
    """An eager copy of a model with one of diffusers' own cache hooks, used like the module.

    The hook's timestep callback returns the current `timestep` input as a 0-d tensor, as pipelines
    do (`lambda: pipe.current_timestep`), and the hook state is reset whenever the timestep rises,
    as pipelines do at the end of `__call__`. Each call runs in the model's `cache_context`: the one the
    loop entered on this object (`cache_context`, NOTE [The loop's cache_context]), else "cond_uncond".
    """

    def __init__(self, demo: DemoModel, config: Any, copy_module: bool = True) -> None:
        from diffusers.hooks import HookRegistry

        self.module = copy.deepcopy(demo.module) if copy_module else demo.module
        self._timestep: torch.Tensor | None = None
        self._last: float | None = None
        if any(f.name == "current_timestep_callback" for f in dataclasses.fields(config)):
            config = dataclasses.replace(config, current_timestep_callback=lambda: self._timestep)
        self.module.enable_cache(config)
        self._registry = HookRegistry.check_if_exists_or_initialize(self.module)
        self._context: tuple[str, dict[str, Any]] = ("cond_uncond", {})

    def reset(self) -> None:
        self._registry.reset_stateful_hooks()

    @contextlib.contextmanager
    def cache_context(self, name: str, **fields: Any) -> Iterator[None]:
        """The context (name and the loop's step fields) the calls inside it run in, as the model's own."""
        outer, self._context = self._context, (name, fields)
        try:
            yield
        finally:
            self._context = outer

    def __call__(self, **kwargs: Any) -> Any:
        timestep = kwargs["timestep"].reshape(-1)[0]
        value = float(timestep)
        if self._last is not None and value > self._last:
            self.reset()
        self._timestep, self._last = timestep, value
        # Hooks that keep a state per cache_context (FirstBlockCache) need one, as pipelines with batched CFG give.
        name, fields = self._context
        with self.module.cache_context(name, **fields):
            return self.module(**kwargs)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of `a` against reference `b`, with the reference's value range as the peak."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    peak = float(b.float().max() - b.float().min())
    return float("inf") if mse == 0 else float(10 * torch.log10(torch.tensor(peak * peak / mse)))


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())

