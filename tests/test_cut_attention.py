"""Attention cut by a graph break (compiler/capture.py, NOTE [A module call cut by a graph break]): WanAnimate 2
compiled without `fullgraph` (torch cannot capture it whole: its attention processor breaks at
`grid_sizes[0].tolist()`) runs its self-attention in graph pieces that hold no whole attention call. PAB then
caches none of those layers: it must say which and why, and equal plain compile, never differ silently."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from diffusers.hooks import apply_pyramid_attention_broadcast

import cachepass  # noqa: F401  (registers the backend)

STEPS = 4


def _wan_animate2() -> tuple[torch.nn.Module, object]:
    """A 2-block WanAnimate 2 and a loop: the reference pass ("extract"), then STEPS denoising calls ("cached")."""
    from diffusers.models.transformers.transformer_wan_animate_2 import (WanAnimate2KVCache,
                                                                         WanAnimate2Transformer3DModel)

    torch.manual_seed(0)
    model = WanAnimate2Transformer3DModel(patch_size=(1, 2, 2), text_len=8, in_dim=8, dim=24, ffn_dim=32, freq_dim=16,
                                          text_dim=16, out_dim=4, num_heads=2, num_layers=2, use_img_emb=False).eval()
    gen = torch.Generator().manual_seed(1)
    ref, ref_cond, latents, cond = (torch.randn(4, 2, 4, 4, generator=gen) for _ in range(4))
    text = torch.randn(5, 16, generator=gen)
    grid, seq = torch.tensor([[2, 2, 2]]), 8

    def loop(transformer: torch.nn.Module, clock: dict[str, float]) -> list[torch.Tensor]:
        kv = WanAnimate2KVCache(2)
        clock["t"] = 0.0
        transformer(hidden_states=[ref], timestep=torch.tensor([0.0]), encoder_hidden_states=[text],
                    condition_latents=[ref_cond], kv_cache=kv, kv_cache_mode="extract", seq_len=seq,
                    offset_grid_sizes=grid)
        outs = []
        for t in torch.linspace(999, 0, STEPS):
            clock["t"] = float(t)
            out = transformer(hidden_states=[latents], timestep=t[None], encoder_hidden_states=[text],
                              condition_latents=[cond], kv_cache=kv, kv_cache_mode="cached", seq_len=seq,
                              reference_grid_sizes=grid, origin_len=4, origin_area=[32, 32])
            outs.append(out.sample[0])
        return outs

    return model, loop


def _pab(clock: dict[str, float] | None = None) -> PyramidAttentionBroadcastConfig:
    callback = (lambda: clock["t"]) if clock is not None else None
    return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                           spatial_attention_timestep_skip_range=(100, 800),
                                           current_timestep_callback=callback)


@torch.no_grad()
def test_wan_animate2_pab_without_fullgraph_says_which_layers_it_leaves_out(caplog: pytest.LogCaptureFixture) -> None:
    model, loop = _wan_animate2()
    clock: dict[str, float] = {}
    plain = loop(copy.deepcopy(model), clock)
    hooked = copy.deepcopy(model)
    apply_pyramid_attention_broadcast(hooked, _pab(clock))
    hook = loop(hooked, clock)
    assert max(float((a - b).abs().max()) for a, b in zip(hook, plain)) > 1e-3  # the hook reuses these layers

    torch._dynamo.reset()
    compiled = torch.compile(copy.deepcopy(model), backend="cachepass", options={"cache": _pab(), "compiler": "eager"})
    with caplog.at_level(logging.WARNING, logger="cachepass"):
        ours = loop(compiled, clock)
    for a, b in zip(ours, plain):  # not cached, so exactly plain compile (eager compiler: eager's numbers)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "leaves out" in r.getMessage()]
    assert said, [r.getMessage() for r in caplog.records]
    assert "blocks.0.self_attn, blocks.1.self_attn" in said[0] and "graph break" in said[0], said[0]
    assert "cross_attn" not in said[0]  # the cross-attention is whole in its piece: not cut
