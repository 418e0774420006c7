"""FirstBlockCache and PAB inside FasterCache's CFG skip (`options={"cache": [FBCConfig or PABConfig,
FasterCacheConfig]}`; NOTE [A CFG skip around a cache], runtime/cfg_split.py) against a reference loop written here:
FasterCache's CFG rule (diffusers' denoiser hook) decides whether the CFG batch or its conditional half runs;
diffusers' FirstBlockCache (or PAB) hook runs those rows on one of two eager copies, one per row set (its own chain
each); the unconditional estimate is diffusers' denoiser-hook equations (its `_split_low_high_freq`, the deltas
weighted on skip steps, the inverse FFT)."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers import FasterCacheConfig, FirstBlockCacheConfig, PyramidAttentionBroadcastConfig
from diffusers.hooks.faster_cache import _split_low_high_freq

import cachepass
from cachepass import ConfigError
from tests.fbc_helpers import TIMESTEPS_12
from tests.fc_helpers import halves
from tests.families import build_family
from tests.helpers import HookedReference, max_diff

THRESHOLD = 0.3
UNCOND_SKIP, UNCOND_WINDOW = 3, (-1, 800)  # steps 4, 5, 7, 8, 10, 11 of 12 run the conditional half


def fc_config(**changes) -> FasterCacheConfig:
    fields = dict(spatial_attention_block_skip_range=None, temporal_attention_block_skip_range=None,
                  unconditional_batch_skip_range=UNCOND_SKIP, unconditional_batch_timestep_skip_range=UNCOND_WINDOW,
                  attention_weight_callback=lambda _: 0.5, tensor_format="BFCHW")
    return FasterCacheConfig(**{**fields, **changes})


class Chain:
    """diffusers' FirstBlockCache hook on an eager copy: one row set's chain. `computed[i]`: call i ran the blocks
    after the first (a forward hook on the last block's first submodule, which runs only then: the hook replaces
    the block's forward, not its call)."""

    def __init__(self, demo, threshold: float) -> None:
        self.module = copy.deepcopy(demo.module)
        self.module.enable_cache(FirstBlockCacheConfig(threshold=threshold))
        self.computed: list[bool] = []
        next(self.module.transformer_blocks[-1].children()).register_forward_hook(lambda *_: self.computed.__setitem__(-1, True))

    def call(self, t: float, kwargs) -> torch.Tensor:
        self.computed.append(False)
        with torch.no_grad(), self.module.cache_context("cfg"):
            return self.module(**kwargs)[0]

    def reset(self) -> None:
        self.module._reset_stateful_cache()


class Reference:
    """The composition written out from the published rules, one generation after `reset()`."""

    def __init__(self, demo, config: FasterCacheConfig, chain) -> None:
        """`chain(demo)`: a new eager copy with the inner cache's hook (`call(t, kwargs)`, `reset()`)."""
        self.demo, self.config = demo, config
        self.chains = {"full": chain(demo), "half": chain(demo)}
        self.rows: list[str] = []
        self.reset()

    def reset(self) -> None:
        for chain in self.chains.values():
            chain.reset()
        self.iteration, self.low, self.high = -1, None, None

    def skips(self, t: float) -> bool:  # diffusers' denoiser hook (faster_cache.py, should_skip_uncond)
        low, high = self.config.unconditional_batch_timestep_skip_range
        i = self.iteration
        return i > 0 and low < t < high and i % self.config.unconditional_batch_skip_range != 0

    def weight(self, t: float, window: tuple, alpha: float) -> float:  # diffusers' default weight callbacks
        return alpha if window[0] < t < window[1] else 1.0

    def __call__(self, t: float) -> torch.Tensor:
        self.iteration += 1
        kwargs = self.demo.inputs(t, 2)
        if not self.skips(t):
            self.rows.append("full")
            out = self.chains["full"].call(t, kwargs)
            (low_u, high_u), (low_c, high_c) = (_split_low_high_freq(x.float()) for x in out.chunk(2))
            self.low, self.high = low_u - low_c, high_u - high_c
            return out
        self.rows.append("half")
        cond = self.chains["half"].call(t, halves(kwargs)[0])
        c = self.config
        self.low = self.low * self.weight(t, c.low_frequency_weight_update_timestep_range, c.alpha_low_frequency)
        self.high = self.high * self.weight(t, c.high_frequency_weight_update_timestep_range, c.alpha_high_frequency)
        low_c, high_c = _split_low_high_freq(cond.float())
        uncond = torch.fft.ifft2(torch.fft.ifftshift(self.low + low_c + self.high + high_c)).real
        return torch.cat([uncond.to(cond.dtype), cond])


def fbc_chain(demo) -> Chain:
    return Chain(demo, THRESHOLD)


def run_both(demo, cache, chain=fbc_chain, compiler: str = "eager", generations: int = 2):
    reference = Reference(demo, cache[1], chain)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cache, "compiler": compiler})
    for _ in range(generations):
        reference.reset()
        for step, t in enumerate(TIMESTEPS_12):
            theirs = reference(t)
            with torch.no_grad():
                ours = demo(compiled, t, 2)
            assert max_diff(ours, theirs) <= 1e-5, (step, max_diff(ours, theirs))
    return reference


def graphs(demo):
    """(the CFG skip's graph, the inner full-rows graph, the inner half-rows graph)."""
    outer = [g for g in cachepass.compiled_graphs(demo.module) if hasattr(g, "half")][-1]
    return outer, outer.full, outer.half


def chain_records(inner) -> list:
    return [r for _, state in inner.states() for r in state.history]


def check_rows(reference: Reference, outer) -> None:
    """The rows of every call of two generations: FasterCache's rule, in the reference and in the CFG skip."""
    rows = outer.plan.outer.rows(TIMESTEPS_12)
    assert reference.rows == rows * 2 and [r.ran for r in outer.states()[0][1].history] == rows * 2


def test_fbc_inside_fastercache_cfg_skip_matches_the_reference_loop() -> None:
    """Two generations, eager compiler: every output equal to the reference loop; each chain decides as its own
    diffusers hook (computed and reused steps in both); the rows per step as FasterCache's rule; the pieces each
    chain compiled per generation as the composed plan predicts from the decision values."""
    demo = build_family("cogvideox")
    cache = [cachepass.FBCConfig(threshold=THRESHOLD), fc_config()]
    reference = run_both(demo, cache)
    outer, full, half = graphs(demo)
    check_rows(reference, outer)
    for name, inner in (("full", full), ("half", half)):
        records = chain_records(inner)
        assert [r.compute for r in records] == reference.chains[name].computed, name
        assert not all(r.compute for r in records) and any(r.compute for r in records[1:]), name
        steps = len(records) // 2
        first, second = records[:steps], records[steps:]
        values = dict(zip(outer.plan.chains(TIMESTEPS_12)[name], (r.value for r in first)))
        predicted = outer.plan.variants(TIMESTEPS_12, [values.get(i, 0.0) for i in range(len(TIMESTEPS_12))])[name]
        assert list(dict.fromkeys(p for r in first for p in r.pieces)) == predicted, name
        # the second generation compiles nothing new (its first head compares with the last generation's residual,
        # then discards the value: FirstBlockCache's own rule), and each chain holds exactly the predicted pieces
        assert {p for r in second for p in r.pieces} <= set(predicted) == set(inner.lowered), name


PAB = dict(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800))


def pab_chain(demo) -> HookedReference:
    """diffusers' PAB hooks on an eager copy: one row set's chain (`reused(i)`: the layers call i reused)."""
    return HookedReference(demo, PyramidAttentionBroadcastConfig(**PAB))


def test_pab_inside_fastercache_cfg_skip_matches_the_reference_loop() -> None:
    """Two generations, eager compiler, diffusers' own PAB config: every output equal to the reference loop; each
    chain reuses attention on the calls its own diffusers hook does, counting its own calls (both chains compute and
    reuse; one shared chain would reuse at step 7, the half chain's third call, which computes); the variants each
    chain compiled per generation as the composed plan predicts from that chain's own timesteps."""
    demo = build_family("cogvideox")
    cache = [PyramidAttentionBroadcastConfig(**PAB), fc_config()]
    reference = run_both(demo, cache, pab_chain)
    outer, full, half = graphs(demo)
    check_rows(reference, outer)
    predicted = outer.plan.variants(TIMESTEPS_12)
    for name, inner in (("full", full), ("half", half)):
        records, chain = chain_records(inner), reference.chains[name]
        assert chain.hooked and [bool(r.reused) for r in records] == [bool(chain.reused(i)) for i in
                                                                       range(len(chain.computed))], name
        assert any(r.reused for r in records) and not all(r.reused for r in records), name
        steps = len(records) // 2
        for generation in (records[:steps], records[steps:]):
            assert list(dict.fromkeys(r.reused for r in generation)) == predicted[name], name
        assert len(predicted[name]) == len(inner.lowered) == 2 and set(predicted[name]) == set(inner.lowered), name


def inductor_run(monkeypatch, cache: list, chain) -> tuple[Reference, list[str], tuple]:
    """Inductor, fullgraph, two generations equal to the reference loop (1e-4); torch's own counters: no graph
    break, no recompile (error_on_recompile), two Dynamo graphs (the model's and FasterCache's half-batch capture),
    one Inductor compile per variant each chain compiled. Returns the reference, the host reads of the second
    generation and the inner (full, half) graphs."""
    from torch._dynamo.utils import counters

    from tests.fbc_helpers import count_host_reads
    from tests.fc_helpers import inductor_compiles

    demo = build_family("cogvideox")
    counters.clear()
    torch._dynamo.reset()
    reference = Reference(demo, cache[1], chain)
    expected = []
    for _ in range(2):
        reference.reset()
        expected += [reference(t) for t in TIMESTEPS_12]
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": cache})
    with torch.no_grad(), torch._dynamo.config.patch(error_on_recompile=True):
        outputs = [demo(compiled, t, 2) for t in TIMESTEPS_12]
        reads = count_host_reads(monkeypatch)
        outputs += [demo(compiled, t, 2) for t in TIMESTEPS_12]
        monkeypatch.undo()
    for step, (ours, theirs) in enumerate(zip(outputs, expected)):
        assert max_diff(ours, theirs) <= 1e-4, step
    assert sum(counters["graph_break"].values()) == 0 and counters["stats"]["unique_graphs"] == 2
    _, full, half = graphs(demo)
    assert inductor_compiles() == len(full.lowered) + len(half.lowered)
    return reference, reads, (full, half)


def test_inductor_fullgraph_no_breaks_no_recompiles(monkeypatch) -> None:
    """FirstBlockCache inside, under Inductor (`inductor_run`); per step of the second generation two host reads:
    the timestep FasterCache's rule reads before choosing the rows, and the first block's probe (the one
    data-dependent read, FirstBlockCache's own)."""
    cache = [cachepass.FBCConfig(threshold=THRESHOLD), fc_config()]
    reference, reads, (full, half) = inductor_run(monkeypatch, cache, fbc_chain)
    assert len(reads) == 2 * len(TIMESTEPS_12), reads
    assert [r.compute for r in chain_records(full)] == reference.chains["full"].computed
    assert [r.compute for r in chain_records(half)] == reference.chains["half"].computed


def test_pab_inside_under_inductor(monkeypatch) -> None:
    """PAB inside, under Inductor (`inductor_run`): each chain reuses on the calls its own diffusers hook does;
    per step of the second generation two host reads, both of the timestep: FasterCache's rule reads it to choose
    the rows, PAB's runtime reads it again for its window (no data-dependent read)."""
    cache = [PyramidAttentionBroadcastConfig(**PAB), fc_config()]
    reference, reads, inner = inductor_run(monkeypatch, cache, pab_chain)
    assert reads == ["tolist"] * 2 * len(TIMESTEPS_12), reads
    for name, graph in zip(("full", "half"), inner):
        chain = reference.chains[name]
        assert [bool(r.reused) for r in chain_records(graph)] == [bool(chain.reused(i)) for i in
                                                                  range(len(chain.computed))], name


def composed_plan(inner):
    """The composed plan of `inner` inside the CFG skip of `fc_config()`'s rule (cachepass's FCConfig of it)."""
    from cachepass.methods.fastercache import FCConfig
    from cachepass.methods.fastercache.plan import make_plan
    from cachepass.runtime.cfg_split import CFGSplitPlan

    outer = make_plan(frozenset(), FCConfig(spatial_skip=None, uncond_skip=UNCOND_SKIP,
                                            uncond_timesteps=UNCOND_WINDOW))
    return CFGSplitPlan(outer, inner)


def test_composed_plan_predicts_each_chains_pieces() -> None:
    """The composed plan alone (no model): FasterCache's rule splits the steps into the two chains, FirstBlockCache's
    rule picks each chain's pieces from that chain's own decision values."""
    from cachepass.methods.fbc.plan import FBCPlan

    timesteps = TIMESTEPS_12
    plan = composed_plan(FBCPlan(0.3, ("hidden",)))
    assert plan.chains(timesteps) == {"full": [0, 1, 2, 3, 6, 9], "half": [4, 5, 7, 8, 10, 11]}
    low, high = 0.1, 0.9
    cases = [  # values per step -> (full chain's pieces, half chain's pieces)
        ([high] * 12, (["head", "tail-compute", "head+decide"], ["head", "tail-compute", "head+decide"])),
        ([low] * 12, (["head", "tail-compute", "head+decide", "tail-reuse"],
                      ["head", "tail-compute", "head+decide", "tail-reuse"])),
        # low only where the half chain decides: the full chain never reuses
        ([high, high, high, high, high, low, high, low, low, high, low, low],
         (["head", "tail-compute", "head+decide"], ["head", "tail-compute", "head+decide", "tail-reuse"])),
    ]
    for values, (full, half) in cases:
        assert plan.variants(timesteps, values) == {"full": full, "half": half}, values
    # a low value at step 4 is not looked at: the half chain starts there (one shared chain would reuse)
    assert plan.variants(timesteps, [high] * 4 + [low] + [high] * 7)["half"] == ["head", "tail-compute",
                                                                              "head+decide"]


def test_composed_plan_predicts_each_chains_pab_variants() -> None:
    """The composed plan alone with PAB inside: each chain's variants from PAB's rule over that chain's own
    timesteps, its calls counted from its own first (steps 0-3, 6, 9 full; 4, 5, 7, 8, 10, 11 half)."""
    from cachepass.methods.pab.config import KindRule
    from cachepass.methods.pab.plan import Plan

    compute, spatial = frozenset(), frozenset({"spatial"})
    cases = [  # (skip, window) -> (full chain's variants, half chain's variants)
        ((2, (100, 800)), ([compute, spatial], [compute, spatial])),
        ((2, (700, 1000)), ([compute, spatial], [compute])),  # steps 1-3 only: all full
        # step 4 only, the half chain's first call: computed (one shared chain's fifth call would reuse)
        ((3, (600, 700)), ([compute], [compute])),
    ]
    for (skip, (low, high)), (full, half) in cases:
        plan = composed_plan(Plan({"spatial": KindRule("spatial", skip, low, high)}))
        assert plan.variants(TIMESTEPS_12) == {"full": full, "half": half}, (skip, low, high)


def test_two_calls_per_timestep_are_refused() -> None:
    """Sequential CFG (the same timestep twice) is no batched step: a ConfigError, not a silent chain mix-up."""
    demo = build_family("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": [cachepass.FBCConfig(threshold=THRESHOLD), fc_config()],
                                      "compiler": "eager"})
    with torch.no_grad():
        demo(compiled, 999.0, 2)
        with pytest.raises(ConfigError, match="needs batched CFG"):
            demo(compiled, 999.0, 2)


def test_an_inner_cache_with_nothing_to_cache_is_refused() -> None:
    """PAB inside the CFG skip on a model without the attention it is asked to cache (CogVideoX has no cross
    attention): a ConfigError saying the CFG skip does not run around an uncached graph, not an uncached compile."""
    demo = build_family("cogvideox")
    cache = [cachepass.PABConfig(spatial_skip=None, cross_skip=2), fc_config()]
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cache, "compiler": "eager"})
    with torch.no_grad(), pytest.raises(ConfigError, match="does not run around an uncached graph"):
        demo(compiled, 999.0, 2)
