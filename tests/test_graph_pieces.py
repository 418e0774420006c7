"""Graphs that hold a piece of the model. HunyuanVideoFramepack at batch 1 cuts its text to `mask.sum()`
tokens: without fullgraph Dynamo breaks there and compiles the blocks as graphs of their own; with
fullgraph=True the sizes read from data become unbacked symbols that attention regions compute and later code
uses. Either way cachepass caches the layers diffusers' hooks cache and matches them step by step."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from families import framepack
from helpers import TIMESTEPS_12, HookedReference, max_diff
from torch._dynamo.utils import counters

import cachepass


@pytest.mark.parametrize("fullgraph", [False, True])
def test_framepack_caches_the_hooks_layers_and_matches_them(fullgraph, caplog):
    torch.manual_seed(0)
    demo = framepack()
    timestep = {"t": None}
    config = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                             spatial_attention_timestep_skip_range=(100, 800),
                                             current_timestep_callback=lambda: timestep["t"])
    reference = HookedReference(demo, config)
    counters.clear()
    compiled = torch.compile(copy.deepcopy(demo.module), backend="cachepass", fullgraph=fullgraph,
                             options={"cache": config})
    with torch.no_grad(), caplog.at_level(logging.WARNING, logger="cachepass"):
        uncached = [demo(demo.module, t) for t in TIMESTEPS_12]
        for generation in range(2):
            reference.reset()
            differs = 0
            for step, t in enumerate(TIMESTEPS_12):
                timestep["t"] = t
                ours, theirs = demo(compiled, t), reference(t)
                assert max_diff(ours, theirs) <= 1e-5, f"generation {generation} step {step} t={t:g}"
                differs += max_diff(ours, uncached[step]) > 1e-5
            assert differs, "no step reused anything"
    graphs = cachepass.report(compiled).graphs
    cached = {site.name for graph in graphs for site in graph.sites if site.cached}
    assert cached == set(reference.hooked) == {"context_embedder.token_refiner.refiner_blocks.0.attn",
                                               "transformer_blocks.0.attn", "single_transformer_blocks.0.attn"}
    assert (counters["stats"]["unique_graphs"] == 1) == fullgraph  # the break really happened without it
    if fullgraph:  # the symbolic sizes were rebuilt, and no attention stayed alive in a reuse variant
        single = next(s for g in graphs for s in g.sites if s.name == "single_transformer_blocks.0.attn")
        assert single.rebuilt
    assert "still computed" not in caplog.text and "NOT tagged" not in str(cachepass.report(compiled))
