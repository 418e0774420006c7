"""One (workload, configuration) measurement, in its own process so that compile caches, memory
peaks and Dynamo state never leak between configurations. With `--serve`, the worker then stays alive and
takes loops in turn with the other configurations' workers (bench/turns.py) before it finishes.

    python -m bench.worker WORKLOAD CONFIGURATION --repeats 3 --compiler inductor --json out.json --latent out.pt
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch._dynamo.utils import counters, guard_failures

import cachepass
from cachepass.compiler.lower import CacheCounts
from cachepass.measure import denoise, time_denoise

from .configurations import CONFIGURATIONS, host_reads, step_pattern
from .ideal import VariantsAlone
from .peers import Unavailable
from .turns import serve
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
    family: str = ""  # cachepass, diffusers, cache-dit, ParaAttention or none (bench.configurations)
    host_reads: int | None = None  # device-to-host reads made deciding, in the last loop (see host_reads())
    fullgraph: str | None = None  # compiled configurations: "yes", or "no: " and the error's first line
    inductor_cache: dict[str, int] = field(default_factory=dict)  # Inductor's and AOTAutograd's caches (CacheCounts)
    variant_cache: dict[str, dict[str, int]] = field(default_factory=dict)  # cachepass: the same per variant


class _RecompileLimitWatcher(logging.Handler):
    hit = False

    def emit(self, record: logging.LogRecord) -> None:
        if "recompile_limit" in record.getMessage():
            self.hit = True


@dataclass
class Session:
    """A measured configuration, warm, for the loops it takes in turn afterwards."""

    demo: Any
    module: Any
    timesteps: list[float]
    guidance: float | None
    alone: VariantsAlone | None  # cachepass: its variants' clocks
    clocking: bool = False

    def take_loop(self) -> dict[str, float]:
        """One loop; for cachepass also its ideal (variants inside the loop + loop work), the variants timed
        alone right after it, and its runtime's own time (bench/ideal.py)."""
        if self.alone is not None and not self.clocking:
            self.alone.clock_in_loop()
            self.clocking = True
        measured = {"loops": denoise(self.demo, self.module, self.timesteps, self.guidance).seconds}
        if self.alone is not None:
            self.alone.sample()  # right after the loop, so that both see the same machine state
            measured["runtime"] = self.alone.take_in_loop_runtime_seconds()
            measured["ideal"] = self.alone.take_in_loop_ideal_seconds()
            measured["ideal_alone"] = self.alone.latest_ideal_seconds()
        return measured


def measure(workload_name: str, configuration_name: str, repeats: int,
            compiler: str) -> tuple[Measurement, torch.Tensor, Session]:
    """Raises peers.Unavailable when a peer cannot run the workload (not installed, or it fails on it)."""
    workload, configuration = WORKLOADS[workload_name], CONFIGURATIONS[configuration_name]
    try:
        return _measure(workload, configuration, repeats, compiler)
    except Exception as error:  # a peer that fails on a model gets a row saying so, not a failed bench
        if configuration.peer is None or isinstance(error, Unavailable):
            raise
        first = (str(error).strip().splitlines() or [""])[0]
        raise Unavailable(f"{configuration.peer} fails on {workload.name}: {type(error).__name__}: {first}") from error


def _measure(workload: Any, configuration: Any, repeats: int,
             compiler: str) -> tuple[Measurement, torch.Tensor, Session]:
    workload_name, configuration_name = workload.name, configuration.name
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
    timing = time_denoise(demo, module, timesteps, repeats, workload.guidance,
                          after_warmup=alone.record if alone else None, after_loop=alone.sample if alone else None)
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
        peak_memory_bytes=_peak_memory(demo.device), inductor_cache=inductor_cache(), variant_cache=variant_cache(module))
    if alone is not None:
        alone.fill(result)
    result.pattern = step_pattern(module, len(timesteps))
    result.family, result.host_reads = configuration.family, host_reads(module, len(timesteps))
    return result, timing.final, Session(demo, module, timesteps, workload.guidance, alone)


def inductor_cache() -> dict[str, int]:
    """Inductor's FX graph cache and AOTAutograd's cache since the counters were cleared (torch's own counters),
    and `missed`: their misses and bypasses."""
    counts = CacheCounts.now()
    return {**asdict(counts), "missed": counts.missed}


def variant_cache(module: Any) -> dict[str, dict[str, int]]:
    """cachepass: Inductor's FX graph cache per compiled variant (torch's counters around each compile,
    compiler/lower.py's CacheCounts); the graph's serial prefixes the name when a model has several graphs."""
    graphs = [g for g in cachepass.compiled_graphs(module) if hasattr(g, "lowered")] \
        if isinstance(module, torch.nn.Module) else []
    return {(f"{index}:" if len(graphs) > 1 else "") + low.variant.name: asdict(low.cache)
            for index, graph in enumerate(graphs) for low in graph.lowered.values()}


def first_generation(workload_name: str, configuration_name: str, compiler: str) -> dict[str, Any]:
    """`--first-generation`: one generation in this new process, from the compiled model's first call to the end
    of the generation (compiles included), and how Inductor's caches answered (bench/orchestrate.py runs it with
    the cache an earlier process left: the `second process s` column)."""
    workload, configuration = WORKLOADS[workload_name], CONFIGURATIONS[configuration_name]
    demo = workload.model()
    module = configuration.prepare(demo, workload, compiler)
    counters.clear()
    seconds = denoise(demo, module, workload.timesteps(), workload.guidance).seconds
    return {"seconds": seconds, "inductor_cache": inductor_cache(), "variant_cache": variant_cache(module)}


def fullgraph(workload: Any, configuration: Any) -> str:
    """Whether Dynamo captures the configuration's model in one graph: one call with fullgraph=True on a fresh
    model, after the measurement and the loops in turn (its counters are taken, and the reset below ends the
    measured model's compiled code), with Dynamo's eager backend (capture is the question, not code
    generation)."""
    torch._dynamo.reset()  # the measured model's cache entries would count against the recompile limit
    demo = workload.model()
    module = configuration.prepare(demo, workload, "eager", fullgraph=True)
    try:
        with torch.no_grad():
            module(**demo.inputs(workload.timesteps()[0], 2 if workload.guidance is not None else 1))
    except Exception as error:
        return f"no: {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:160]}"
    return "yes"


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("configuration", choices=sorted(CONFIGURATIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compiler", default="inductor", choices=("inductor", "eager"))
    parser.add_argument("--json", required=True, help="where to write the measurement")
    parser.add_argument("--latent", required=True, help="where to save the final latent (for quality metrics)")
    parser.add_argument("--serve", type=int, default=None, metavar="FD",
                        help="a connected socket's file descriptor: after measuring, take loops in turn on request "
                             "(bench/turns.py) until told to finish")
    parser.add_argument("--first-generation", action="store_true",
                        help="only time the first generation and read Inductor's cache counters (--json gets them)")
    args = parser.parse_args()
    if args.first_generation:
        with open(args.json, "w") as handle:
            json.dump(first_generation(args.workload, args.configuration, args.compiler), handle)
        return
    try:
        result, final, session = measure(args.workload, args.configuration, args.repeats, args.compiler)
    except Unavailable as why:
        with open(args.json, "w") as handle:
            json.dump({"workload": args.workload, "configuration": args.configuration, "skipped": str(why)}, handle)
        return
    if args.serve is not None:
        serve(args.serve, session.take_loop)
    if CONFIGURATIONS[args.configuration].compiled:
        result.fullgraph = fullgraph(WORKLOADS[args.workload], CONFIGURATIONS[args.configuration])
    torch.save(final.float().cpu(), args.latent)
    with open(args.json, "w") as handle:
        json.dump(asdict(result), handle)


if __name__ == "__main__":
    main()
