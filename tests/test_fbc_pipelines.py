"""FirstBlockCache in real diffusers pipelines built from tiny components (examples/tiny_pipelines.py):
the pipeline unchanged but for its compiled transformer, against the same pipeline with diffusers'
`transformer.enable_cache(FirstBlockCacheConfig(...))`. Flux runs one `cache_context("cond")` call per step,
Wan two ("cond", then "uncond"), each with its own state in both. Wan 2.2's layout runs two transformers, each
compiled, in one pipeline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from diffusers import FirstBlockCacheConfig
from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS

import cachepass

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import tiny_pipelines  # noqa: E402

# Thresholds at which the hooked pipeline skips some steps but not all (measured with the hook).
CASES = {"flux": 0.3, "wan": 0.1}


def pipeline_call(name: str, seed: int) -> dict:
    call = dict(tiny_pipelines.PIPELINES[name][1], prompt=tiny_pipelines.PROMPT, output_type="pt",
                generator=torch.Generator().manual_seed(seed))
    if name == "wan":
        call["negative_prompt"] = tiny_pipelines.NEGATIVE_PROMPT
    return call


def output(result) -> torch.Tensor:
    return result.frames if hasattr(result, "frames") else result.images


def probe_blocks(transformer) -> list[str]:
    """Per transformer call: "C" when the last block ran, "R" when FBC skipped it."""
    lists = [child for name, child in transformer.named_children()
             if name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS and isinstance(child, torch.nn.ModuleList)]
    calls: list[str] = []
    transformer.register_forward_pre_hook(lambda *_: calls.append("R"))
    next(lists[-1][-1].children()).register_forward_hook(lambda *_: calls.__setitem__(-1, "C"))
    return calls


@pytest.mark.parametrize("name", sorted(CASES))
def test_pipeline_with_fbc_equals_the_hooked_pipeline(name):
    build = tiny_pipelines.PIPELINES[name][0]
    config = FirstBlockCacheConfig(threshold=CASES[name])
    pipe = build(0)
    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", fullgraph=True, options={"cache": config})
    reference = build(0)
    reference.transformer.enable_cache(config)
    theirs = probe_blocks(reference.transformer)
    for seed in (0, 1):  # two calls: the end-of-call reset must start the second afresh in both
        expected = output(reference(**pipeline_call(name, seed)))
        got = output(pipe(**pipeline_call(name, seed)))
        assert float((got - expected).abs().max()) <= 1e-4, (name, seed)
    state = cachepass.compiled_graphs(pipe.transformer)[0].states()[0][1]
    ours = ["C" if r.compute else "R" for r in state.history]
    assert ours == theirs and 0 < theirs.count("R") < len(theirs) - 4, "".join(theirs)
    contexts = {"flux": {"cond"}, "wan": {"cond", "uncond"}}[name]
    assert {r.context for r in state.history} == contexts


def test_flux_pipeline_with_magcache_equals_the_hooked_pipeline():
    """MagCache with diffusers' Flux ratios interpolated to the pipeline's 10 steps; the hook and cachepass
    both start over after `num_inference_steps` calls and at the pipeline's end-of-call reset."""
    from diffusers import MagCacheConfig
    from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

    steps = tiny_pipelines.FLUX_CALL["num_inference_steps"]
    config = MagCacheConfig(threshold=0.06, num_inference_steps=steps, mag_ratios=FLUX_MAG_RATIOS.clone())
    pipe = tiny_pipelines.flux_pipeline(0)
    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", fullgraph=True, options={"cache": config})
    reference = tiny_pipelines.flux_pipeline(0)
    reference.transformer.enable_cache(config)
    theirs = probe_blocks(reference.transformer)
    for seed in (0, 1):
        expected = output(reference(**pipeline_call("flux", seed)))
        got = output(pipe(**pipeline_call("flux", seed)))
        assert float((got - expected).abs().max()) <= 1e-4, seed
    state = cachepass.compiled_graphs(pipe.transformer)[0].states()[0][1]
    ours = ["C" if r.compute else "R" for r in state.history]
    assert ours == theirs and 0 < theirs.count("R") < len(theirs) - 4, "".join(theirs)


def test_flux_pipeline_with_taylorseer_equals_the_hooked_pipeline():
    """TaylorSeer with diffusers' default identifiers (Flux's `attn` modules match them), float32 factors."""
    from diffusers import TaylorSeerCacheConfig

    config = TaylorSeerCacheConfig(cache_interval=3, disable_cache_before_step=2, taylor_factors_dtype=torch.float32)
    pipe = tiny_pipelines.flux_pipeline(0)
    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", fullgraph=True, options={"cache": config})
    reference = tiny_pipelines.flux_pipeline(0)
    reference.transformer.enable_cache(config)
    for seed in (0, 1):
        expected = output(reference(**pipeline_call("flux", seed)))
        got = output(pipe(**pipeline_call("flux", seed)))
        assert float((got - expected).abs().max()) <= 1e-4, seed
    state = cachepass.compiled_graphs(pipe.transformer)[0].states()[0][1]
    assert [r.iteration for r in state.history] == list(range(10)) * 2  # the end-of-call reset starts over
    assert any(not r.compute for r in state.history) and {r.context for r in state.history} == {"cond"}


def test_an_interrupted_pipeline_call_leaves_nothing_to_the_next():
    """A call that raises at step 4 never runs the pipeline's end-of-call reset; the next call starts at a
    lower timestep (custom sigmas), so no timestep rise shows the new generation either. It must still
    start afresh: equal to diffusers' hooks on a fresh pipeline, from a new generation at iteration 0."""
    build = tiny_pipelines.PIPELINES["flux"][0]
    config = FirstBlockCacheConfig(threshold=CASES["flux"])
    pipe = build(0)
    pipe.transformer = torch.compile(pipe.transformer, backend="cachepass", fullgraph=True,
                                     options={"cache": config, "compiler": "eager"})

    def interrupt(pipeline, step, timestep, kwargs):
        if step == 4:
            raise KeyboardInterrupt("the user stopped the generation")
        return kwargs

    with pytest.raises(KeyboardInterrupt):
        pipe(**pipeline_call("flux", 0), callback_on_step_end=interrupt)
    state = cachepass.compiled_graphs(pipe.transformer)[0].states()[0][1]
    first = list(state.history)
    def low():  # a fresh generator per call
        return dict(pipeline_call("flux", 1), sigmas=[0.15, 0.1, 0.06, 0.03], num_inference_steps=4)

    got = output(pipe(**low()))
    second = list(state.history)[len(first):]
    assert second[0].timestep < first[-1].timestep  # no rise to see
    assert second[0].iteration == 0 and second[0].generation != first[-1].generation
    reference = build(0)
    reference.transformer.enable_cache(config)
    assert float((got - output(reference(**low()))).abs().max()) <= 1e-4


# -- Wan 2.2: two transformers in one pipeline (issue 29) ---------------------------------------------

WAN22_BOUNDARY = 0.75  # of the tiny pipeline's 10 timesteps, 5 are >= 750 (transformer) and 5 below (transformer_2)


def wan22_pipeline(seed: int):
    """diffusers' `WanPipeline` in its Wan 2.2 layout: `transformer` (high noise) and `transformer_2` (low noise,
    here a perturbed copy: one model run on the other's state cannot match by accident), split by
    `boundary_ratio`; each runs its steps in `cache_context("cond")` and `("uncond")`."""
    import copy

    from diffusers import WanPipeline

    pipe = tiny_pipelines.wan_pipeline(seed)
    second = copy.deepcopy(pipe.transformer)
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in second.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    pipe = WanPipeline(**dict(pipe.components, transformer_2=second), boundary_ratio=WAN22_BOUNDARY)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def wan22_steps(pipe) -> tuple[int, int]:
    """How many of the pipeline's steps each transformer runs."""
    pipe.scheduler.set_timesteps(tiny_pipelines.WAN_CALL["num_inference_steps"])
    high = sum(float(t) >= WAN22_BOUNDARY * pipe.scheduler.config.num_train_timesteps for t in pipe.scheduler.timesteps)
    return high, len(pipe.scheduler.timesteps) - high


def wan22_configs(method: str, steps: tuple[int, int]) -> list:
    """One config per transformer: MagCache's step count is each transformer's own share of the steps."""
    from diffusers import MagCacheConfig, TaylorSeerCacheConfig
    from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

    if method == "fbc":
        return [FirstBlockCacheConfig(threshold=0.2) for _ in steps]
    if method == "magcache":
        return [MagCacheConfig(threshold=0.06, num_inference_steps=n, mag_ratios=FLUX_MAG_RATIOS.clone()) for n in steps]
    return [TaylorSeerCacheConfig(cache_interval=3, disable_cache_before_step=2, taylor_factors_dtype=torch.float32,
                                  cache_identifiers=[r"^blocks\.\d+\.attn[12]"]) for _ in steps]


def states_of(compiled) -> list:
    """The cachepass states of this model (a graph Dynamo shares between the two transformers holds both)."""
    own = {id(p) for p in compiled.parameters()}
    return [s for g in cachepass.compiled_graphs(compiled) if g.cached for o, s in g.states() if id(o) in own]


@pytest.mark.parametrize("method", ["fbc", "magcache", "taylorseer"])
def test_wan22_pipeline_with_both_transformers_cached_equals_the_hooked_pipeline(method):
    """Dynamo serves `transformer_2` from the graph it compiled for `transformer`: each must still keep its own
    state and `cache_context`, skipping the steps diffusers' hooks skip on it, over two pipeline calls."""
    pipe, reference = wan22_pipeline(0), wan22_pipeline(0)
    steps = wan22_steps(pipe)
    assert min(steps) >= 4, steps
    names = ("transformer", "transformer_2")
    for name, config in zip(names, wan22_configs(method, steps)):
        setattr(pipe, name, torch.compile(getattr(pipe, name), backend="cachepass", fullgraph=True,
                                          options={"cache": config}))
    for name, config in zip(names, wan22_configs(method, steps)):
        getattr(reference, name).enable_cache(config)
    theirs = [probe_blocks(getattr(reference, name)) for name in names]
    for seed in (0, 1):
        expected = output(reference(**pipeline_call("wan", seed)))
        got = output(pipe(**pipeline_call("wan", seed)))
        assert float((got - expected).abs().max()) <= 1e-4, (method, seed)
    for name, n, blocks in zip(names, steps, theirs):
        states = states_of(getattr(pipe, name))
        assert len(states) == 1, (name, len(states))
        history = states[0].history
        assert len(history) == 2 * 2 * n, name  # two calls, cond and uncond per step: only its own steps
        assert {r.context for r in history} == {"cond", "uncond"}, name
        if method == "taylorseer":
            assert [r.iteration for r in history if r.context == "cond"] == list(range(n)) * 2, name
            assert any(not r.compute for r in history), name
        else:
            ours = ["C" if r.compute else "R" for r in history]
            assert ours == blocks and 0 < blocks.count("R") < len(blocks), (name, "".join(blocks))
