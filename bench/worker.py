"""One (workload, configuration) measurement, in its own process so that compile caches, memory
peaks and Dynamo state never leak between configurations.

    python -m bench.worker WORKLOAD CONFIGURATION --repeats 3 --compiler inductor --json out.json --latent out.pt
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch._dynamo.utils import counters, guard_failures

from cachepass.measure import denoise, time_denoise

from .configurations import CONFIGURATIONS, step_pattern
from .ideal import VariantsAlone
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
    pattern: str | None = None  # per step of the last loop: C = computed, R = reused (cachepass, FBC hook)
    variant_ms: dict[str, float] = field(default_factory=dict)  # cachepass: each variant alone, median
    loop_work_ms: float | None = None  # the denoising loop's own per-step work, around a free model
    ideal_loop_seconds: float | None = None  # sum over steps of (the variant alone + loop work)
    efficiency: float | None = None  # ideal / measured
    compile_seconds: dict[str, float] = field(default_factory=dict)  # cachepass: per variant
    # CPU, configurations not in the paired timing: the uncached eager loop timed between this one's loops
    # (its model copy adds the eager model's weights to peak_memory_bytes).
    eager_interleaved_seconds: float | None = None


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
    alone = VariantsAlone(demo, module, timesteps, workload.guidance) if configuration.cachepass else None
    # Configurations left out of the paired process get their own drift-free eager baseline.
    reference = (_EagerReference(workload, timesteps) if workload.paired_timing and not configuration.paired
                 else None)

    def after_loop() -> None:
        if alone is not None:
            alone.sample()
        if reference is not None:
            reference.loop()

    timing = time_denoise(demo, module, timesteps, repeats, workload.guidance,
                          after_warmup=alone.record if alone else None, after_loop=after_loop)
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
        peak_memory_bytes=_peak_memory(demo.device),
        eager_interleaved_seconds=reference.median() if reference else None)
    if alone is not None:
        alone.fill(result)
    result.pattern = step_pattern(module, len(timesteps))
    return result, timing.final


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _EagerReference:
    """An uncached eager copy of the model, its loop timed after each timed loop of the configuration, for
    configurations that cannot join the paired timing: a speedup over eager that the machine's drift between
    worker processes does not enter."""

    def __init__(self, workload: Any, timesteps: list[float]) -> None:
        self.demo, self.timesteps, self.guidance = workload.model(), timesteps, workload.guidance
        self.seconds: list[float] = []

    def loop(self) -> None:
        self.seconds.append(denoise(self.demo, self.demo.module, self.timesteps, self.guidance).seconds)

    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


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
