"""CUDA-graph replay of every variant (Inductor's cudagraph trees): cached tensors must survive the
next replay. Runs where CUDA is available; on CPU the option is validated and reported as ignored."""

from __future__ import annotations

import logging

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from helpers import TIMESTEPS_12, HookedReference, max_diff
from torch._dynamo.utils import counters

import cachepass
from cachepass.options import parse_options
from cachepass.models import build

CONFIG = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2)


class NonStaticInputs:
    """Checks that no CUDA graph recording treats a parameter or buffer as a dynamic input.

    Inductor's cudagraph trees add, per recording, the number of inputs they copy into the graph pool on
    every replay to `counters["inductor"]["cudagraph_recorded_non_static_inputs"]`. That count is never 0
    here: the model's own inputs (hidden states, timestep, ...) and the cache reads are dynamic by design.
    The weights must not be among them (NOTE [Dynamo's metadata on variants]): so a call's increase may not
    exceed the non-weight inputs of the variants it ran, while one copied weight set alone (65+ tensors on
    the tiny models) would exceed it."""

    def __init__(self) -> None:
        self.recorded = 0  # calls that recorded a CUDA graph

    def __call__(self, compiled, step):
        before = counters["inductor"]["cudagraph_recorded_non_static_inputs"]
        out = step()
        added = counters["inductor"]["cudagraph_recorded_non_static_inputs"] - before
        if added:
            self.recorded += 1
            [graph] = cachepass.compiled_graphs(compiled)
            weights = len(graph.captured.inputs_with_role("parameter", "buffer"))
            pieces = len(graph.states()[0][1].history[-1].pieces)
            most = max(len(lowered.variant.example_inputs) for lowered in graph.lowered.values()) - weights
            assert 0 < weights and added <= pieces * most, (added, pieces, most, weights)
        return out


def test_option_sets_inductor_cudagraphs():
    assert parse_options({"cudagraphs": True}).inductor_config["triton.cudagraphs"] is True
    assert parse_options(None, mode="reduce-overhead").cudagraphs is True
    with pytest.raises(cachepass.ConfigError, match="'cudagraphs'='yes' must be True or False"):
        parse_options({"cudagraphs": "yes"})


def test_cudagraphs_on_a_cpu_graph_is_ignored_with_a_warning(caplog):
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": CONFIG, "cudagraphs": True})
    with caplog.at_level(logging.WARNING, logger="cachepass"), torch.no_grad():
        demo(compiled, 999.0)
    assert "cudagraphs applies to CUDA graphs; this graph runs on cpu" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cudagraph_replay_keeps_cached_attention_intact():
    demo = build("cogvideox").to("cuda", torch.float32)
    reference = HookedReference(demo, CONFIG)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": CONFIG, "cudagraphs": True})
    non_static = NonStaticInputs()
    for generation in range(2):
        reference.reset()
        with torch.no_grad():
            for t in TIMESTEPS_12:
                ours = non_static(compiled, lambda: demo(compiled, t).clone())
                assert max_diff(ours, reference(t)) <= 1e-4, (generation, t)
    assert non_static.recorded >= 2  # compute and reuse-spatial
    history = cachepass.compiled_graphs(compiled)[0].states()[0][1].history
    assert any(r.reused for r in history)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fbc_cudagraph_replay_keeps_residuals_intact():
    """FirstBlockCache runs two pieces per step (head, then a tail reading the head's outputs) as CUDA
    graphs; the kept residuals are copied out of the pool."""
    from families import build_family
    from fbc_helpers import THRESHOLDS, FBCHooked, compiled_call

    demo = build_family("cogvideox").to("cuda", torch.float32)
    reference = FBCHooked(demo, THRESHOLDS["cogvideox"])
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": cachepass.FBCConfig(threshold=THRESHOLDS["cogvideox"]),
                                      "cudagraphs": True})
    non_static = NonStaticInputs()
    for generation in range(2):
        for t in TIMESTEPS_12:
            ours = non_static(compiled, lambda: compiled_call(demo, compiled, t).clone())
            assert max_diff(ours, reference(t)) <= 1e-4, (generation, t)
        reference.reset()
        demo.module._reset_stateful_cache()
    history = cachepass.compiled_graphs(compiled)[0].states()[0][1].history
    assert [r.compute for r in history] == reference.computed and not all(reference.computed)
    assert non_static.recorded >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["magcache", "taylorseer"])
def test_step_only_methods_replay_as_cuda_graphs(method):
    """MagCache's residual and TaylorSeer's factors are copied out of the CUDA graph pool when kept."""
    import copy

    from diffusers import MagCacheConfig, TaylorSeerCacheConfig
    from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS
    from families import build_family
    from fbc_helpers import compiled_call

    demo = build_family("flux").to("cuda", torch.float32)
    config = (MagCacheConfig(threshold=0.06, num_inference_steps=12, mag_ratios=FLUX_MAG_RATIOS.clone())
              if method == "magcache" else
              TaylorSeerCacheConfig(cache_interval=3, disable_cache_before_step=2, taylor_factors_dtype=torch.float32))
    reference = copy.deepcopy(demo.module)
    reference.enable_cache(config)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": config, "cudagraphs": True})
    non_static = NonStaticInputs()
    for t in TIMESTEPS_12:
        with torch.no_grad(), reference.cache_context("cond"):
            expected = demo(reference, t)
        assert max_diff(non_static(compiled, lambda: compiled_call(demo, compiled, t).clone()), expected) <= 1e-4, t
    assert non_static.recorded >= 1
