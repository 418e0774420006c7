"""cachepass compiled with Inductor gives, step for step, the outputs of diffusers' PAB hooks on an
eager copy of the model, and reuses exactly the layers on exactly the steps the hooks do."""

from __future__ import annotations

import logging

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from helpers import TIMESTEPS_12, HookedReference, max_diff, run_loop

import cachepass
from cachepass.models import build

DIFFUSERS = PyramidAttentionBroadcastConfig

CASES = {
    "cogvideox-spatial": ("cogvideox", DIFFUSERS(spatial_attention_block_skip_range=2,
                                                 spatial_attention_timestep_skip_range=(100, 800)), None),
    # spatial unset: diffusers files temporal_transformer_blocks under temporal
    "latte-temporal-cross": ("latte", DIFFUSERS(temporal_attention_block_skip_range=3,
                                                temporal_attention_timestep_skip_range=(150, 850),
                                                cross_attention_block_skip_range=4,
                                                cross_attention_timestep_skip_range=(100, 950)), None),
    # spatial set: diffusers files temporal_transformer_blocks under spatial (its quirk, reproduced)
    "latte-spatial-cross": ("latte", DIFFUSERS(spatial_attention_block_skip_range=2,
                                               temporal_attention_block_skip_range=3,
                                               cross_attention_block_skip_range=3,
                                               cross_attention_timestep_skip_range=(50, 900)), None),
    "pixart-spatial-cross": ("pixart", DIFFUSERS(spatial_attention_block_skip_range=3,
                                                 spatial_attention_timestep_skip_range=(100, 850),
                                                 cross_attention_block_skip_range=2,
                                                 cross_attention_timestep_skip_range=(200, 950)), None),
    # cachepass's own classification: all three kinds at once, each with its own schedule
    "latte-all-kinds-cachepass": ("latte", cachepass.PABConfig(spatial_skip=2, temporal_skip=3,
                                                                temporal_timesteps=(150, 900), cross_skip=4), {
        "transformer_blocks.0.attn1": (2, (100, 800)), "transformer_blocks.1.attn1": (2, (100, 800)),
        "temporal_transformer_blocks.0.attn1": (3, (150, 900)),
        "temporal_transformer_blocks.1.attn1": (3, (150, 900)),
        "transformer_blocks.0.attn2": (4, (100, 800)), "transformer_blocks.1.attn2": (4, (100, 800))}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_diffusers_hooks_step_by_step(case):
    model_name, config, layers = CASES[case]
    demo = build(model_name)
    reference = HookedReference(demo, config if layers is None else None, layers)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": config})
    uncached = run_loop(demo, demo.module, TIMESTEPS_12)

    for generation in range(2):  # the second run must not see the first one's caches
        reference.reset()
        start = len(reference.computed)
        with torch.no_grad():
            ours = [demo(compiled, t) for t in TIMESTEPS_12]
            theirs = [reference(t) for t in TIMESTEPS_12]
        graph = cachepass.compiled_graphs(compiled)[0]
        history = [r for r in graph.states()[0][1].history if r.generation == graph.states()[0][1].generation]
        assert len(history) == len(TIMESTEPS_12)
        for step, t in enumerate(TIMESTEPS_12):
            assert max_diff(ours[step], theirs[step]) <= 1e-5, f"gen {generation} step {step} t={t:g}"
            reused_by_hooks = reference.reused(start + step)
            reused_by_us = {s.name for s in graph.tags.cached_sites if s.cache_kind in history[step].reused}
            assert reused_by_us == reused_by_hooks, f"gen {generation} step {step} t={t:g}"
            if reused_by_hooks:  # the output really comes from the cache
                assert max_diff(ours[step], uncached[step]) > 1e-5, f"step {step} equals the uncached output"

    kinds_reused = {kind for r in history for kind in r.reused}
    expected_kinds = {s.cache_kind for s in graph.tags.cached_sites}
    assert kinds_reused == expected_kinds, "every cached kind must be reused at least once in 12 steps"
    assert len(reference.hooked) == len(graph.tags.cached_sites)


def test_latte_diffusers_quirk_is_followed_and_reported(caplog):
    """With a spatial range set, diffusers' rule caches temporal blocks under the spatial schedule.
    cachepass follows it for identical outputs and warns, naming the layers."""
    demo = build("latte")
    config = DIFFUSERS(spatial_attention_block_skip_range=2, temporal_attention_block_skip_range=3)
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    with caplog.at_level(logging.WARNING, logger="cachepass"), torch.no_grad():
        demo(compiled, 999.0)
    graph = cachepass.compiled_graphs(compiled)[0]
    temporal = [s for s in graph.tags.sites if s.name.startswith("temporal_transformer_blocks")]
    assert temporal and all(s.kind == "temporal" and s.cache_kind == "spatial" for s in temporal)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "temporal_transformer_blocks.0.attn1 (temporal -> spatial)" in warning
    assert "cachepass.PABConfig" in warning
