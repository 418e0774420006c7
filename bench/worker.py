"""One (workload, configuration) measurement, in its own process so that compile caches, memory
peaks and Dynamo state never leak between configurations.

    python -m bench.worker WORKLOAD CONFIGURATION --repeats 3 --compiler inductor --json out.json --latent out.pt
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch._dynamo.utils import counters, guard_failures

import cachepass
from cachepass.lower import Lowered
from cachepass.measure import denoise, time_denoise

from .configurations import CONFIGURATIONS
from .workloads import WORKLOADS


@dataclass
class Measurement:
    workload: str
    configuration: str
    method: str
    device: str
    steps: int
    repeats: int
    warmup_seconds: float  # first loop, compilation included
    loop_seconds: float  # median steady-state loop
    ms_per_step: float
    step_ms: list[float]  # each step of the median loop
    dynamo_graphs: int
    recompiles: int
    graph_breaks: int
    fell_back_to_eager: bool
    inductor_compiles: int
    peak_memory_bytes: int  # CUDA: max allocated; CPU: the worker's max RSS
    cache_bytes: int | None = None  # cachepass: bytes its caches held at the end of the last loop
    variants: list[str] = field(default_factory=list)  # cachepass: the variant each step ran
    variant_ms: dict[str, float] = field(default_factory=dict)  # cachepass: each variant alone, median
    ideal_loop_seconds: float | None = None  # sum over steps of the variant's time alone
    efficiency: float | None = None  # ideal / measured
    compile_seconds: dict[str, float] = field(default_factory=dict)  # cachepass: per variant


class _RecompileLimitWatcher(logging.Handler):
    hit = False

    def emit(self, record: logging.LogRecord) -> None:
        if "recompile_limit" in record.getMessage():
            self.hit = True


def measure(workload_name: str, configuration_name: str, repeats: int, compiler: str) -> tuple[Measurement, torch.Tensor]:
    workload, configuration = WORKLOADS[workload_name], CONFIGURATIONS[configuration_name]
    demo = workload.model()
    watcher = _RecompileLimitWatcher()
    logging.getLogger("torch._dynamo").addHandler(watcher)
    counters.clear()
    guard_failures.clear()
    if demo.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    module = configuration.prepare(demo, workload, compiler)
    timesteps = workload.timesteps()
    timing = time_denoise(demo, module, timesteps, repeats, workload.guidance)
    inductor = counters["inductor"]
    result = Measurement(
        workload=workload_name, configuration=configuration_name, method=configuration.method,
        device=str(demo.device), steps=len(timesteps), repeats=repeats, warmup_seconds=timing.first_loop_seconds,
        loop_seconds=timing.loop_seconds, ms_per_step=timing.ms_per_step,
        step_ms=[1000 * s for s in timing.step_seconds],
        dynamo_graphs=counters["stats"]["unique_graphs"],
        recompiles=sum(len(reasons) for reasons in guard_failures.values()),
        graph_breaks=sum(counters["graph_break"].values()),
        fell_back_to_eager=watcher.hit,
        inductor_compiles=inductor["fxgraph_cache_miss"] + inductor["fxgraph_cache_hit"] + inductor["fxgraph_cache_bypass"],
        peak_memory_bytes=_peak_memory(demo.device))
    if configuration.cachepass:
        _cachepass_fields(result, module, demo, workload, timesteps)
    return result, timing.final


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cachepass_fields(result: Measurement, module: Any, demo: Any, workload: Any, timesteps: list[float]) -> None:
    graphs = [g for g in cachepass.compiled_graphs(module) if g.cached]
    if not graphs:
        return
    graph = graphs[-1]  # PAB's CachedGraph or FasterCache's FasterCacheGraph: the same reporting surface
    state = graph.states()[0][1]
    last = [r for r in state.history if r.generation == state.generation]
    result.variants = [r.variant for r in last]
    result.cache_bytes = sum(s.cache_bytes() for _, s in graph.states())
    result.compile_seconds = {low.variant.name: low.compile_seconds for low in graph.lowered.values()}
    result.variant_ms = _time_variants_alone(graph, demo, module, timesteps)
    result.ideal_loop_seconds = sum(result.variant_ms[name] for name in result.variants) / 1000
    result.efficiency = result.ideal_loop_seconds / result.loop_seconds


def _time_variants_alone(graph: Any, demo: Any, module: Any, timesteps: list[float], calls: int = 5) -> dict:
    """Each variant's compiled function called directly, with the arguments it got in a real loop:
    the limit the runtime's own overhead is measured against."""
    recorded: dict[str, tuple] = {}
    originals = dict(graph.lowered)
    for key, low in originals.items():
        graph.lowered[key] = Lowered(low.variant, _recorder(low, recorded), low.compiler, low.compile_seconds)
    try:
        denoise(demo, module, timesteps, time_steps=False)
    finally:
        graph.lowered.update(originals)
    timings = {}
    for name, args in recorded.items():
        fn = next(low.fn for low in originals.values() if low.variant.name == name)
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            fn(*args)
            if demo.device.type == "cuda":
                torch.cuda.synchronize()
            samples.append(time.perf_counter() - start)
        timings[name] = 1000 * sorted(samples)[len(samples) // 2]
    return timings


def _recorder(low: Lowered, recorded: dict[str, tuple]):
    def call(*args: Any) -> Any:
        recorded.setdefault(low.variant.name, args)
        return low.fn(*args)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("configuration", choices=sorted(CONFIGURATIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compiler", default="inductor", choices=("inductor", "eager"))
    parser.add_argument("--json", required=True, help="where to write the measurement")
    parser.add_argument("--latent", required=True, help="where to save the final latent (for quality metrics)")
    args = parser.parse_args()
    result, final = measure(args.workload, args.configuration, args.repeats, args.compiler)
    torch.save(final.float().cpu(), args.latent)
    with open(args.json, "w") as handle:
        json.dump(asdict(result), handle)


if __name__ == "__main__":
    main()
