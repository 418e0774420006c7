"""SeaCache inside the compiler, checked against diffusers' own SeaCache hook on eager copies: same outputs,
same steps computed / reused (or extrapolated), two generations; under Inductor with fullgraph one graph, no
recompiles, no graph breaks and at most one host read per step (the distances, only when they decide); the
gate alone against the hook's `resolve_gate`; configs cachepass cannot honour refused with the fix."""

from __future__ import annotations

import copy
import logging
import random
import re

import pytest
import torch
from diffusers import SeaCacheConfig
from diffusers.hooks import sea_cache
from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS
from families import build_family
from fbc_helpers import count_host_reads
from helpers import max_diff
from torch._dynamo.utils import counters

import cachepass
from cachepass.methods.seacache.plan import SeaGate, SeaPlan, SeaStep

STEPS = 8
SIGMAS = [float(s) for s in torch.linspace(1, 0, STEPS + 1)[:-1]]
WAN_ADAPTER = sea_cache._prepare_wan_t2v_raw_vision_metadata  # diffusers' adapter: hidden_states' batch elements


def config(family: str, **changes) -> SeaCacheConfig:
    """threshold 0.5: on these tiny random-weight models the hook reuses 3 of 8 steps (measured with the hook)."""
    fields = dict(threshold=0.5, raw_vision_callback=None if family == "wan" else WAN_ADAPTER)
    fields.update(changes)
    return SeaCacheConfig(**fields)


class SeaHooked:
    """An eager copy with diffusers' SeaCache hook; `computed[i]`: whether call i ran the blocks (a probe on the
    last block's first submodule)."""

    def __init__(self, demo, cfg: SeaCacheConfig) -> None:
        self.module = copy.deepcopy(demo.module)
        self.module.enable_cache(cfg)
        lists = [child for name, child in self.module.named_children()
                 if name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS and isinstance(child, torch.nn.ModuleList)]
        self.computed: list[bool] = []
        next(lists[-1][-1].children()).register_forward_hook(lambda *_: self.computed.__setitem__(-1, True))

    def __call__(self, kwargs: dict, step: dict) -> torch.Tensor:
        self.computed.append(False)
        with torch.no_grad(), self.module.cache_context("cond", **step):
            return self.module(**kwargs)[0]


def call(demo, compiled, kwargs: dict, step: dict | None) -> torch.Tensor:
    with torch.no_grad(), demo.module.cache_context("cond", **(step or {})):
        return compiled(**kwargs)[0]


def generation(demo, run):
    """One denoising loop: the latents move with the hook's prediction, so that both see the same inputs."""
    latents = demo.inputs(999.0)["hidden_states"].clone()
    for i, sigma in enumerate(SIGMAS):
        kwargs = demo.inputs(sigma * 1000)
        kwargs["hidden_states"] = latents
        prediction = run(kwargs, dict(step_index=i, sigma=sigma, num_inference_steps=STEPS))
        latents = latents - prediction / STEPS


def history(compiled) -> list:
    return list(cachepass.compiled_graphs(compiled)[0].states()[0][1].history)


@pytest.mark.parametrize("family, order", [("wan", 1), ("hunyuanvideo", 1), ("cogvideox", 0)])
def test_seacache_matches_diffusers_hook_step_by_step(family, order):
    demo = build_family(family)
    cfg = config(family, residual_order=order)
    reference = SeaHooked(demo, cfg)
    uncached = copy.deepcopy(demo.module)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cfg, "compiler": "eager"})
    reused_differs = []

    def both(kwargs, step):
        theirs, ours = reference(kwargs, step), call(demo, compiled, kwargs, step)
        assert max_diff(ours, theirs) == 0.0, (family, step)  # eager: the hook's ops, bit for bit
        if not reference.computed[-1]:
            with torch.no_grad():
                reused_differs.append(max_diff(ours, uncached(**kwargs)[0]) > 1e-5)
        return theirs

    for _ in range(2):  # the second generation starts at step 0: the hook starts a new trajectory, as cachepass
        generation(demo, both)
    records = history(compiled)
    assert [r.compute for r in records] == reference.computed
    assert 0 < reference.computed.count(False) < STEPS and all(reused_differs)
    reused = {r.variant for r in records if not r.compute}
    assert reused == ({"skip+extrapolate"} if order == 1 else {"skip"})
    assert [r.compute for r in records[:STEPS]] == [r.compute for r in records[STEPS:]]


def test_inductor_fullgraph_two_generations_one_graph_and_one_read_per_decided_step(monkeypatch):
    demo = build_family("wan")
    cfg = config("wan")
    reference = SeaHooked(demo, cfg)
    counters.clear()
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": cfg})
    generation(demo, lambda kwargs, step: _checked(reference, demo, compiled, kwargs, step, 1e-5))
    reads = count_host_reads(monkeypatch)
    per_step = []

    def counted(kwargs, step):
        theirs = reference(kwargs, step)  # the hook's own reads are not counted
        before = len(reads)
        ours = call(demo, compiled, kwargs, step)
        per_step.append(len(reads) - before)
        assert max_diff(ours, theirs) <= 1e-5, step
        return theirs

    with torch.compiler.set_stance("fail_on_recompile"):
        generation(demo, counted)
    monkeypatch.undo()
    records = history(compiled)
    assert [r.compute for r in records] == reference.computed
    assert 0 < reference.computed.count(False)
    decided = [r.distance is not None for r in records[STEPS:]]
    assert per_step == [1 if d else 0 for d in decided] and any(decided)  # the distances, once, when they decide
    assert [r.host_reads for r in records[STEPS:]] == per_step
    assert counters["stats"]["unique_graphs"] == 1 and sum(counters["graph_break"].values()) == 0
    graph = cachepass.compiled_graphs(compiled)[0]
    assert set(graph.lowered) == {"indicator", "indicator+distance", "compute", "skip+extrapolate"}


def _checked(reference, demo, compiled, kwargs, step, tolerance):
    theirs, ours = reference(kwargs, step), call(demo, compiled, kwargs, step)
    assert max_diff(ours, theirs) <= tolerance, step
    return theirs


def _hook_distance(current: list[torch.Tensor], previous: list[torch.Tensor]) -> list[float]:
    return [float(((c.float() - p.float()).abs().mean() / (p.float().abs().mean() + 1e-16))) for c, p in
            zip(current, previous)]


def test_gate_equals_the_hooks_resolve_gate_on_random_schedules():
    """The plan alone against diffusers' `resolve_gate` (and the leader hook's count of reuses in a row): random
    configs, indicators, repeated and non-adjacent steps."""
    rng = random.Random(0)
    for trial in range(200):
        fields = dict(threshold=rng.choice([0.0, 0.1, 0.5, 1.5]), retention_steps=rng.randint(0, 2),
                      cache_end_steps=rng.randint(0, 2), max_consecutive_cached=rng.randint(0, 3))
        hook_cfg = SeaCacheConfig(**fields)
        plan = SeaPlan(cachepass.SeaConfig(**fields))
        shared, state, gate = sea_cache.SeaCacheSharedState(), sea_cache.SeaCacheContextState(), SeaGate()
        shared.warn_once = lambda message: None
        steps = rng.randint(3, 12)
        index, previous = 0, None
        for _ in range(steps + 3):
            if rng.random() < 0.1 and gate.key is not None:
                index = gate.key[0]  # a repeated call
            elif rng.random() < 0.1:
                index = rng.randrange(steps)  # a jump: a new trajectory
            step = SeaStep(index, 1.0 - index / steps, steps)
            same = gate.key == step.key
            indicator = [torch.randn(3, 4) * (1 + rng.random()) for _ in range(2)] if not same else previous
            metadata = sea_cache._SeaCacheForwardMetadata(step.step_index, step.sigma, steps)
            theirs = shared.resolve_gate(state, metadata, indicator, hook_cfg)
            if same:
                ours = gate.compute
            else:
                if not plan.adjacent(gate, step):
                    gate = SeaGate()
                forced = plan.forced(gate, step)
                distances = None if forced else _hook_distance(indicator, previous)
                ours = plan.decide(gate, step, distances)[0].compute
                gate = plan.decide(gate, step, distances)[1]
            assert ours == theirs and gate.accumulated == state.accumulated_distance, (trial, step)
            state.consecutive_cached = 0 if theirs else state.consecutive_cached + 1  # the leader / tail hooks
            gate = SeaGate(gate.key, gate.compute, gate.observed, gate.accumulated,
                           0 if ours else gate.consecutive + 1)
            previous = indicator
            index = min(index + 1, steps - 1)


def test_calls_without_the_loops_step_run_in_full_and_say_so(caplog):
    demo = build_family("wan")
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": config("wan"), "compiler": "eager"})
    kwargs = demo.inputs(500.0)
    with torch.no_grad():
        expected = demo.module(**kwargs)[0]
    with caplog.at_level(logging.WARNING, logger="cachepass"):
        for _ in range(3):
            assert max_diff(call(demo, compiled, kwargs, None), expected) == 0.0
    assert all(r.compute and r.reason.endswith("fail-open") for r in history(compiled))
    assert sum("sigma=..., num_inference_steps=..." in r.message for r in caplog.records) == 1


@pytest.mark.parametrize("family, vision, says", [
    ("flux", "hidden_states", "not a 5-D video latent"),
    ("hunyuanvideo", "auto", "SeaConfig(vision='hidden_states')"),
])
def test_models_without_an_indicator_compile_uncached_and_say_why(family, vision, says, caplog):
    demo = build_family(family)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cachepass.SeaConfig(vision=vision), "compiler": "eager"})
    with caplog.at_level(logging.WARNING, logger="cachepass"):
        call(demo, compiled, demo.inputs(999.0), dict(step_index=0, sigma=1.0, num_inference_steps=STEPS))
    assert any(says in r.message and "without caching" in r.message for r in caplog.records)
    assert not cachepass.compiled_graphs(compiled)[0].cached


@pytest.mark.parametrize("make, message", [
    (lambda: cachepass.SeaConfig(threshold=-1), "SeaConfig.threshold=-1 must be a finite number >= 0"),
    (lambda: cachepass.SeaConfig(residual_order=2), "SeaConfig.residual_order=2 must be 0"),
    (lambda: cachepass.SeaConfig(max_consecutive_cached=1.5), "SeaConfig.max_consecutive_cached=1.5 must be an int"),
    (lambda: cachepass.SeaConfig(vision="latents"), "SeaConfig.vision='latents' must be one of"),
    (lambda: cachepass.SeaConfig(treshold=0.1), "SeaConfig has no field 'treshold'"),
    (lambda: cachepass.methods.to_cache_config(SeaCacheConfig(raw_vision_callback=lambda m, a, k: None)),
     "cannot run inside the compiled graph. Leave it None for Wan T2V"),
])
def test_sea_config_rejects_what_it_cannot_honour(make, message):
    with pytest.raises(cachepass.ConfigError, match=re.escape(message)):
        make()


def test_diffusers_config_converted_as_it_is():
    theirs = SeaCacheConfig(threshold=0.3, residual_order=0, retention_steps=2, cache_end_steps=0,
                            max_consecutive_cached=0, power_exp=2.0, raw_vision_callback=WAN_ADAPTER)
    ours = cachepass.methods.to_cache_config(theirs)
    assert ours == cachepass.SeaConfig(threshold=0.3, residual_order=0, retention_steps=2, cache_end_steps=0,
                                       max_consecutive_cached=0, power_exp=2.0, vision="hidden_states")
    assert theirs.raw_vision_callback is WAN_ADAPTER  # read, never mutated
