"""Context-parallel test cases: one model, one cache config, two generations driven as a pipeline does.

`run_case` runs a case in this process -- under diffusers' context parallelism when torch.distributed is
initialized (tests/cp_worker.py, one call per rank), else as the one-process oracle -- for cachepass
and for diffusers' own hooks on a second copy of the model, and returns what the tests compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import (ContextParallelConfig, FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig,
                       PyramidAttentionBroadcastConfig)
from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS
from torch._dynamo.utils import counters, guard_failures

import cachepass
from cachepass.integrations.parallel import enable_context_parallel

STEPS = 8
GENERATIONS = 2


class Clock:
    """The pipeline's current timestep (0..1000) for the configs' callbacks."""

    t: float | None = None

    def __call__(self) -> float | None:
        return self.t


@dataclass(frozen=True)
class CPCase:
    family: str  # tests/families.py builder
    method: str
    config: Callable[[Clock], Any]  # a fresh diffusers config per run
    batch: int | None = None  # None: the family's default; 2 = batched CFG

    @property
    def hooks_under_cp(self) -> bool:
        """diffusers' FirstBlockCache decides on each rank's shard alone: under context parallelism its ranks
        disagree and their collectives hang (seen: gloo's timeout on the second rank's all_to_all). Its
        one-process run is the oracle then."""
        return self.method != "fbc"


def _pab(clock: Clock) -> Any:
    return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                           spatial_attention_timestep_skip_range=(100, 800),
                                           cross_attention_block_skip_range=3,
                                           cross_attention_timestep_skip_range=(50, 900), current_timestep_callback=clock)


def _fc_distilled(clock: Clock) -> Any:
    return FasterCacheConfig(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
                             current_timestep_callback=clock, attention_weight_callback=lambda _: 0.4,
                             is_guidance_distilled=True)


def _fc_cfg(clock: Clock) -> Any:
    return FasterCacheConfig(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
                             current_timestep_callback=clock, attention_weight_callback=lambda _: 0.3,
                             unconditional_batch_skip_range=3, unconditional_batch_timestep_skip_range=(-1, 781),
                             tensor_format="BCFHW")


def _fbc(threshold: float) -> Callable[[Clock], Any]:
    return lambda clock: FirstBlockCacheConfig(threshold=threshold)


def _magcache(clock: Clock) -> Any:
    return MagCacheConfig(threshold=0.06, num_inference_steps=STEPS, mag_ratios=FLUX_MAG_RATIOS.clone())


# FBC thresholds: between the per-rank decision values of some step (see the FBC test), from fbc_helpers.THRESHOLDS.
CASES: dict[str, CPCase] = {
    "flux-pab": CPCase("flux", "pab", _pab),
    "flux-fastercache-distilled": CPCase("flux", "fastercache", _fc_distilled),
    "flux-fbc": CPCase("flux", "fbc", _fbc(0.3)),
    "flux-magcache": CPCase("flux", "magcache", _magcache),
    "wan-pab": CPCase("wan", "pab", _pab),
    "wan-fastercache-cfg": CPCase("wan", "fastercache", _fc_cfg, batch=2),
    "wan-fbc": CPCase("wan", "fbc", _fbc(0.06)),
    "wan-magcache": CPCase("wan", "magcache", _magcache),
}


def timesteps() -> list[float]:
    return [float(t) for t in torch.linspace(999, 0, STEPS)]


def _build(family: str) -> Any:
    from families import FAMILIES

    torch.manual_seed(0)
    return FAMILIES[family]()


def run_case(name: str, compiler: str = "inductor", skew: bool = False) -> dict[str, Any]:
    """Both runs of one case; under context parallelism when torch.distributed is initialized. `skew`: the
    last rank's pipeline runs other timesteps than the others (a bug the runtime must catch)."""
    import torch.distributed as dist

    case = CASES[name]
    parallel = dist.is_available() and dist.is_initialized()
    torch._dynamo.reset()
    counters.clear()
    guard_failures.clear()
    ours, theirs = _build(case.family), _build(case.family)
    clock = Clock()
    # The hooks first, then context parallelism: diffusers' MagCache block hook must see block 0's input after
    # Wan's CP hook on `blocks.0` split it (the other order crashes on a 16 vs 32 token residual).
    theirs.module.enable_cache(case.config(clock))
    if parallel:
        for demo in (ours, theirs):
            enable_context_parallel(demo.module, ContextParallelConfig(ulysses_degree=dist.get_world_size()))
    compiled = torch.compile(ours.module, backend="cachepass", fullgraph=True,
                             options={"cache": case.config(clock), "compiler": compiler})
    result: dict[str, Any] = {"cachepass": [], "hooks": []}
    runs = [("cachepass", ours, compiled)] + ([("hooks", theirs, theirs.module)] if case.hooks_under_cp or not parallel
                                              else [])
    steps = timesteps()
    if skew and dist.get_rank() == dist.get_world_size() - 1:
        steps = [max(t - 150.0, 0.0) for t in steps]
    for generation in range(GENERATIONS):
        for key, demo, module in runs:
            with torch.compiler.set_stance("fail_on_recompile" if generation and key == "cachepass" else "default"):
                result[key] += _generation(demo, module, clock, case.batch, steps)
            module = demo.module
            if key == "cachepass":
                cachepass.reset(module)
            else:
                module._reset_stateful_cache()
    graphs = cachepass.compiled_graphs(ours.module)
    history = [r for g in graphs for _, s in g.states() for r in s.history]
    result.update(
        variants=[str(r.pieces) for r in history],
        pattern="".join("R" if r.reused else "C" for r in history),
        rank_values=[getattr(r, "rank_value", None) for r in history],
        values=[getattr(r, "value", None) for r in history],
        graphs=counters["stats"]["unique_graphs"], breaks=sum(counters["graph_break"].values()),
        recompiles=sum(len(reasons) for reasons in guard_failures.values()),
        agreement_checks=sum(g._agreement.checks for g in graphs if g._agreement is not None),
        collectives=_collectives(g.captured.gm.graph for g in graphs),
        variant_collectives={str(key): _collectives([low.variant.gm.graph]) for g in graphs
                             for key, low in g.lowered.items()})
    return result


def _collectives(graphs: Any) -> int:
    from cachepass.integrations.parallel import is_collective

    return sum(is_collective(node) for graph in graphs for node in graph.nodes)


def _generation(demo: Any, module: Any, clock: Clock, batch: int | None, steps: list[float]) -> list[torch.Tensor]:
    outputs = []
    for t in steps:
        clock.t = t
        with torch.no_grad(), demo.module.cache_context("cond"):
            # clone(): eager context parallelism returns the gathered output as an AsyncCollectiveTensor, waited
            # for on first use (torch.save alone reads it unwaited)
            outputs.append(demo(module, t, batch).clone())
    return outputs


__all__ = ["CASES", "CPCase", "GENERATIONS", "STEPS", "run_case", "timesteps"]
