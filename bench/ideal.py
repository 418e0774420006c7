"""The limit of a cachepass schedule: each step's compiled variant timed alone.

ideal = sum over steps of (the step's variant alone) + steps x (the loop's own work per step)
efficiency = ideal / measured loop: what Dynamo's guards plus the cachepass runtime cost on top.
runtime ms/step = the cachepass runtime's own time per step (its `__call__` minus the variants inside it,
clocked inside the same loop); the rest of the gap is Dynamo's per-call work (guards, gathering the
parameters), which every torch.compile model pays the same.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
import weakref
from typing import Any

import torch

import cachepass
from cachepass.compiler.lower import Lowered
from cachepass.measure import denoise, sync
from cachepass.runtime.clock import clocked


class VariantsAlone:
    """Each variant's compiled function called on its own, with the arguments it got in a real loop, plus
    the loop's own per-step work (CFG combination, Euler update, input building) timed with a model that
    costs nothing. `sample()` runs between timed loops, so that both sides see the same machine state."""

    def __init__(self, demo: Any, module: Any, timesteps: list[float], guidance: float | None) -> None:
        self.demo, self.module, self.timesteps, self.guidance = demo, module, timesteps, guidance
        self.args: dict[str, tuple] = {}
        self.samples: dict[str, list[float]] = {}
        self.loop_work: list[float] = []
        self.calls = 3  # calls of each variant per sample

    def graph(self) -> Any:
        graphs = [g for g in cachepass.compiled_graphs(self.module) if g.cached]
        return graphs[-1] if graphs else None  # PAB's CachedGraph or FasterCache's FasterCacheGraph

    def record(self) -> None:
        graph = self.graph()
        if graph is None:
            return
        originals = dict(graph.lowered)
        for key, low in originals.items():
            graph.lowered[key] = dataclasses.replace(low, fn=_recorder(low, self.args))
        try:
            denoise(self.demo, self.module, self.timesteps, self.guidance, time_steps=False)
        finally:
            graph.lowered.update(originals)
        self.functions = {low.variant.name: low.fn for low in originals.values()}

    def clock_in_loop(self) -> None:
        """From now on, also time every variant call the runtime makes inside real loops: the same loop's
        variant time, free of the drift between a loop and a later sample."""
        graph = self.graph()
        self.in_graph = self.in_runtime = 0.0
        for key, low in dict(graph.lowered).items():
            graph.lowered[key] = dataclasses.replace(low, fn=self._clocked(low.fn))
        _clock_runtime(type(graph))
        _CLOCKED[graph] = self

    def take_in_loop_runtime_seconds(self) -> float:
        """The cachepass runtime's own time in the loop that just ran (its calls minus the variants in them)."""
        runtime, self.in_runtime = self.in_runtime - self.in_graph, 0.0
        return runtime

    def take_in_loop_ideal_seconds(self) -> float:
        """The ideal of the loop that just ran: its variants' own time inside it plus the loop work (call
        `take_in_loop_runtime_seconds` first: both read the variants' time)."""
        seconds, self.in_graph = self.in_graph, 0.0
        return seconds + self.loop_work[-1] * len(self.steps())

    def _clocked(self, fn: Any) -> Any:
        def add(seconds: float) -> None:
            self.in_graph += seconds

        return clocked(fn, add, lambda _: sync(self.demo.device))

    def steps(self) -> list[Any]:
        """The step records of the model's latest generation."""
        state = self.graph().states()[0][1]
        last = state.history[-1].generation if state.history else None
        return [r for r in state.history if r.generation == last]

    def variants(self) -> list[str]:
        """The variant each step of the model's latest generation ran."""
        return [r.variant for r in self.steps()]

    def pieces(self) -> list[str]:
        """The compiled graphs the latest generation ran, in order (FirstBlockCache: two per step)."""
        return [p for r in self.steps() for p in r.pieces]

    def latest_ideal_seconds(self) -> float:
        """The ideal loop from the latest `sample()` alone: one round's figure."""
        latest = {name: statistics.median(times[-self.calls:]) for name, times in self.samples.items()}
        return sum(latest.get(name, 0.0) for name in self.pieces()) + self.loop_work[-1] * len(self.steps())

    def sample(self) -> None:
        for name, args in self.args.items():
            for _ in range(self.calls):
                start = time.perf_counter()
                self.functions[name](*args)
                sync(self.demo.device)
                self.samples.setdefault(name, []).append(time.perf_counter() - start)
        if self.args:
            self.loop_work.append(_loop_work(self.demo, self.timesteps, self.guidance))

    def fill(self, result: Any) -> None:
        """Set the cachepass fields of a bench.worker.Measurement, from the medians of all samples."""
        graph = self.graph()
        if graph is None:
            return
        result.variants = self.variants()
        result.cache_bytes = sum(s.cache_bytes() for _, s in graph.states())
        result.compile_seconds = {low.variant.name: low.compile_seconds for low in graph.lowered.values()}
        result.variant_ms = {name: 1000 * statistics.median(times) for name, times in self.samples.items()}
        work = statistics.median(self.loop_work) if self.loop_work else 0.0
        result.loop_work_ms = 1000 * work
        result.ideal_loop_seconds = (sum(result.variant_ms.get(name, 0.0) for name in self.pieces()) / 1000
                                     + work * len(result.variants))
        result.efficiency = result.ideal_loop_seconds / result.loop_seconds


_CLOCKED: weakref.WeakKeyDictionary[Any, VariantsAlone] = weakref.WeakKeyDictionary()  # runtime graph -> its clock


def _clock_runtime(runtime_class: type) -> None:
    """Time every call of a cachepass runtime class (once per class; the graphs being clocked add up)."""
    if getattr(runtime_class.__call__, "_bench_clock", False):
        return
    original = runtime_class.__call__

    def call(self: Any, *args: Any) -> Any:
        clock = _CLOCKED.get(self)
        if clock is None:
            return original(self, *args)
        start = time.perf_counter()
        outputs = original(self, *args)
        sync(clock.demo.device)
        clock.in_runtime += time.perf_counter() - start
        return outputs

    call._bench_clock = True  # type: ignore[attr-defined]
    runtime_class.__call__ = call


def _loop_work(demo: Any, timesteps: list[float], guidance: float | None) -> float:
    """Per-step time of the denoising loop around a model that costs nothing."""
    kwargs = demo.inputs(timesteps[0], 2 if guidance is not None else 1)
    output = torch.zeros_like(kwargs[demo.latent_key])

    def free_model(**_: Any) -> tuple[torch.Tensor]:
        return (output,)

    return statistics.median(denoise(demo, free_model, timesteps, guidance).step_seconds)


def _recorder(low: Lowered, recorded: dict[str, tuple]):
    def call(*args: Any) -> Any:
        recorded.setdefault(low.variant.name, args)
        return low.fn(*args)

    return call


