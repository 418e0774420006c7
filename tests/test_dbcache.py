"""DBCache (cache-dit's Dual Block Cache and its steps-computation masks) against cache-dit 1.5.3 itself.

The oracle (tests/compose_helpers.py): `cache_dit.enable_cache` on an eager deep copy of the same tiny model,
with the same config, `cache_dit.refresh_context` before each generation (what its pipeline wrapper does per
call), and its own record of the cached steps (`cache_dit.summary`). cachepass runs the original model compiled with the same config object;
every step's output and the per-step compute/reuse pattern must be equal over two generations.
"""

from __future__ import annotations

import dataclasses

import cache_dit  # a test dependency: pyproject.toml's `test` extra
import pytest
import torch

import cachepass
from cachepass import ConfigError
from cachepass.models import DemoModel
from tests import compose_helpers
from tests.families import build_family
from tests.fbc_helpers import count_host_reads
from tests.helpers import max_diff


TIMESTEPS = [float(t) for t in torch.linspace(999, 0, 8)]


def deeper(name: str, **layers: int) -> DemoModel:
    """A tests/families.py model with more blocks (same inputs), for Fn + Bn < blocks."""
    demo = build_family(name)
    torch.manual_seed(0)
    return dataclasses.replace(demo, module=type(demo.module).from_config({**demo.module.config, **layers}).eval())


def cache_dit_run(demo: DemoModel, config_kwargs: dict, generations: int = 2) -> tuple[list[torch.Tensor], list[str]]:
    return compose_helpers.cache_dit_run(demo, cache_dit.DBCacheConfig(**config_kwargs), None, generations, TIMESTEPS)


def cachepass_run(demo: DemoModel, config_kwargs: dict, compiler: str = "eager",
                  generations: int = 2) -> tuple[list[torch.Tensor], list[str], object]:
    options = {"cache": cache_dit.DBCacheConfig(**config_kwargs), "compiler": compiler}
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options=options)
    with torch.no_grad():
        outputs = [demo(compiled, t) for _ in range(generations) for t in TIMESTEPS]
    graph = [g for g in cachepass.compiled_graphs(demo.module) if g.cached][-1]
    pattern = graph.report().pattern
    steps = len(TIMESTEPS)
    return outputs, [pattern[i * steps:(i + 1) * steps] for i in range(generations)], graph


def db(**fields) -> dict:
    return {"max_warmup_steps": 0, "enable_separate_cfg": False, **fields}


# Each case compiles once (eager compiler); F1B0 on Wan and CogVideoX comes with the warm-up, limit and mask rules,
# F2B1 on a 4-block Wan is the Inductor test's.
CASES = {
    # the Bn block is a single-stream block: the middle residual spans both of Flux's lists
    "flux22-F1B1": (lambda: deeper("flux", num_layers=2, num_single_layers=2),
                    db(Fn_compute_blocks=1, Bn_compute_blocks=1, residual_diff_threshold=0.33)),
    "wan-warmup-interval-in-a-row": (lambda: build_family("wan"), db(
        Fn_compute_blocks=1, residual_diff_threshold=0.5, max_warmup_steps=3, warmup_interval=2,
        max_continuous_cached_steps=1)),
    "wan-max-cached-accumulated": (lambda: build_family("wan"), db(
        Fn_compute_blocks=1, residual_diff_threshold=0.09, max_cached_steps=3,
        max_accumulated_residual_diff_threshold=0.12)),
    "cogvideox-mask-dynamic": (lambda: build_family("cogvideox"), db(
        Fn_compute_blocks=1, residual_diff_threshold=0.21, max_warmup_steps=8,
        steps_computation_mask=cache_dit.steps_mask(compute_bins=[2, 1, 2], cache_bins=[2, 1]))),
    "wan-mask-static": (lambda: build_family("wan"), db(
        Fn_compute_blocks=1, residual_diff_threshold=0.06, steps_computation_policy="static",
        steps_computation_mask=cache_dit.steps_mask(compute_bins=[2, 1, 1], cache_bins=[3, 1]))),
}
F2B1 = db(Fn_compute_blocks=2, Bn_compute_blocks=1, residual_diff_threshold=0.06)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_cache_dit_step_by_step(case: str) -> None:
    build, fields = CASES[case]
    reference, expected = cache_dit_run(build(), fields)
    assert all("C" in p and "R" in p for p in expected), expected  # the case reuses some steps, not all
    demo = build()
    outputs, patterns, _ = cachepass_run(demo, fields)
    assert patterns == expected
    for step, (ours, theirs) in enumerate(zip(outputs, reference)):
        assert max_diff(ours, theirs) <= 1e-5, (case, step)
    with torch.no_grad():  # the reused steps are not the uncached model's outputs
        plain = [demo(demo.module, t) for t in TIMESTEPS]
    reused = [i for i, c in enumerate(patterns[0]) if c == "R"]
    assert max(max_diff(outputs[i], plain[i]) for i in reused) > 1e-4


def test_inductor_fullgraph_no_breaks_no_recompiles_one_host_read(monkeypatch) -> None:
    """Inductor, fullgraph: equal to cache-dit; torch's own counters: no graph break, no recompile; one host
    read per step (the probe), counted over a second generation."""
    from torch._dynamo.utils import counters

    fields = F2B1
    reference, expected = cache_dit_run(deeper("wan", num_layers=4), fields, generations=3)
    assert all("C" in p and "R" in p for p in expected), expected
    demo = deeper("wan", num_layers=4)
    counters.clear()
    torch._dynamo.reset()
    options = {"cache": cache_dit.DBCacheConfig(**fields)}
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options=options)
    with torch.no_grad(), torch._dynamo.config.patch(error_on_recompile=True):
        outputs = [demo(compiled, t) for t in TIMESTEPS * 2]
        reads = count_host_reads(monkeypatch)
        outputs += [demo(compiled, t) for t in TIMESTEPS]
        monkeypatch.undo()
    assert sum(counters["graph_break"].values()) == 0
    assert counters["stats"]["unique_graphs"] == 1
    assert reads == ["tolist"] * len(TIMESTEPS)
    for step, (ours, theirs) in enumerate(zip(outputs, reference)):
        assert max_diff(ours, theirs) <= 1e-5, step
    graph = [g for g in cachepass.compiled_graphs(demo.module) if g.cached][-1]
    pattern = graph.report().pattern
    assert [pattern[i:i + 8] for i in (0, 8, 16)] == expected
    assert set(graph.lowered) <= {"head", "head+decide", "tail-compute", "tail-reuse"}


def test_plan_matches_cache_dit_rules_on_given_values() -> None:
    """The pure plan against cache-dit's own `can_cache` fed residuals whose decision values are given."""
    from cache_dit.caching.cache_contexts.cache_manager import CachedContextManager

    from cachepass.methods.dbcache.config import from_cache_dit
    from cachepass.methods.dbcache.plan import DBPlan

    generator = torch.Generator().manual_seed(3)
    for trial in range(40):
        values = (torch.rand(12, generator=generator) * 0.2).tolist()
        kwargs = db(Fn_compute_blocks=1, residual_diff_threshold=float(torch.rand(1, generator=generator)) * 0.2,
                    max_warmup_steps=int(torch.randint(0, 4, (1,), generator=generator)),
                    warmup_interval=int(torch.randint(1, 3, (1,), generator=generator)),
                    max_cached_steps=int(torch.randint(-1, 6, (1,), generator=generator)) or -1,
                    max_continuous_cached_steps=int(torch.randint(-1, 3, (1,), generator=generator)) or -1,
                    max_accumulated_residual_diff_threshold=[None, 0.3][trial % 2])
        if trial % 3 == 0:
            kwargs["steps_computation_mask"] = [1, 1] + torch.randint(0, 2, (10,), generator=generator).tolist()
            kwargs["steps_computation_policy"] = ["dynamic", "static"][trial % 2]
        config = cache_dit.DBCacheConfig(**kwargs)
        manager = CachedContextManager(name="t", persistent_context=True)
        manager.set_context("c", cache_config=config)
        theirs = []
        previous = torch.ones(4, dtype=torch.float64)
        for value in values:
            manager.mark_step_begin()
            residual = previous * (1 + value)  # mean|p - r| / mean|p| = value, p the last computed one
            cached = manager.can_cache(residual, prefix="Fn")
            if cached:
                manager.add_cached_step()
            else:
                manager.set_Fn_buffer(residual, prefix="Fn")
                previous = residual
            theirs.append("R" if cached else "C")
        cfg = from_cache_dit(config)
        plan = DBPlan(1, 0, cfg.residual_diff_threshold, cfg.warmup_steps, cfg.steps_computation_mask, cfg.static,
                      cfg.max_cached_steps, cfg.max_continuous_cached_steps,
                      cfg.max_accumulated_residual_diff_threshold, ("hidden",))
        ours = "".join("C" if d.compute else "R" for d in plan.simulate(values))
        assert ours == "".join(theirs), (trial, kwargs)


@pytest.mark.parametrize("fields, words", [
    (dict(enable_separate_cfg=True), "enable_separate_cfg=False"),
    (dict(force_refresh_step_hint=4), "force_refresh_step_hint"),
    (dict(residual_diff_threshold=0.0), "caches nothing"),
    (dict(max_continuous_cached_steps=0), "caches nothing"),
    (dict(Fn_compute_blocks=0), "Fn_compute_blocks"),
    (dict(steps_computation_mask=[0, 1], steps_computation_policy="static"), "Start the mask with 1"),
    (dict(steps_computation_policy="lazy"), "'dynamic' or 'static'"),
])
def test_bad_configs_refused_before_tracing(fields: dict, words: str) -> None:
    demo = build_family("wan")
    calls = []
    demo.module.register_forward_pre_hook(lambda *_: calls.append(1))
    with pytest.raises(ConfigError, match=words):
        cachepass.compile(demo.module, cache=cache_dit.DBCacheConfig(**{"enable_separate_cfg": False, **fields}))
    assert not calls


def test_no_middle_block_refused_with_the_fix() -> None:
    demo = build_family("wan")  # two blocks: F1B1 leaves nothing to skip
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={
        "cache": cache_dit.DBCacheConfig(**db(Fn_compute_blocks=1, Bn_compute_blocks=1)), "compiler": "eager"})
    with pytest.raises(Exception, match="leaves no middle block"), torch.no_grad():
        demo(compiled, 999.0)
