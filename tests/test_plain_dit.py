"""A DiT written in plain PyTorch (no diffusers classes) gets its attention tagged from the graph
and cached with the same semantics as diffusers' hook applied to those layers."""

from __future__ import annotations

import torch
from helpers import TIMESTEPS_12, HookedReference, max_diff, run_loop

import cachepass
from cachepass.models import build


def test_plain_dit_attention_is_tagged_by_structure():
    demo = build("dit")
    config = cachepass.PABConfig(spatial_skip=2, temporal_skip=3, cross_skip=4, cross_timesteps=(50, 950))
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": config, "compiler": "eager"})
    with torch.no_grad():
        demo(compiled, 999.0)
    tags = cachepass.compiled_graphs(compiled)[0].tags
    kinds = {site.name: site.kind for site in tags.sites}
    assert kinds == {f"blocks.{i}.{attn}": kind for i in range(2)
                     for attn, kind in (("attn", "spatial"), ("temporal_attn", "temporal"), ("cross_attn", "cross"))}
    cross = next(s for s in tags.sites if s.kind == "cross")
    assert cross.kind_reason.startswith("graph: query reads") and "context" in cross.kind_reason
    assert all(s.module_class == "cachepass.models.Attention" for s in tags.sites)


def test_plain_dit_matches_diffusers_hook_on_the_same_layers():
    demo = build("dit")
    config = cachepass.PABConfig(spatial_skip=2, temporal_skip=3, cross_skip=4, cross_timesteps=(50, 950))
    layers = {}
    for i in range(2):
        layers[f"blocks.{i}.attn"] = (2, (100, 800))
        layers[f"blocks.{i}.temporal_attn"] = (3, (100, 800))
        layers[f"blocks.{i}.cross_attn"] = (4, (50, 950))
    reference = HookedReference(demo, layers=layers)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options={"cache": config})
    uncached = run_loop(demo, demo.module, TIMESTEPS_12)
    ours = run_loop(demo, compiled, TIMESTEPS_12)
    theirs = [reference(t) for t in TIMESTEPS_12]
    reuse_steps = [i for i in range(len(TIMESTEPS_12)) if reference.reused(i)]
    assert len(reuse_steps) >= 4
    for step in range(len(TIMESTEPS_12)):
        assert max_diff(ours[step], theirs[step]) <= 1e-5
    for step in reuse_steps:
        assert max_diff(ours[step], uncached[step]) > 1e-5


def test_a_diffusers_pab_config_on_a_plain_dit_says_what_caches_it(caplog):
    """diffusers' rule knows only its own attention classes: nothing is cached, and the warning names the
    config that would cache the model's attention -- which then does."""
    import logging

    from diffusers import PyramidAttentionBroadcastConfig

    demo = build("dit")
    config = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2)
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    with torch.no_grad(), caplog.at_level(logging.WARNING, logger="cachepass"):
        demo(compiled, 999.0)
    assert "6 attention sites are none of them. cachepass.PABConfig(spatial_skip=" in caplog.text
    assert not cachepass.compiled_graphs(compiled)[0].cached
    torch._dynamo.reset()
    ours = torch.compile(demo.module, backend="cachepass",
                         options={"cache": cachepass.PABConfig(spatial_skip=2), "compiler": "eager"})
    with torch.no_grad():
        demo(ours, 700.0)
    assert cachepass.compiled_graphs(ours)[-1].cached
