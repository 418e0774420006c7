"""Attention that does not go through F.scaled_dot_product_attention is found too: diffusers' classic
processor (baddbmm + softmax), attention written out by hand in a plain module, and diffusers'
attention-dispatcher backends other than native (flex attention)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from diffusers import PyramidAttentionBroadcastConfig
from diffusers.hooks.pyramid_attention_broadcast import _apply_pyramid_attention_broadcast_hook
from diffusers.models.attention_processor import Attention, AttnProcessor
from families import build_family
from helpers import TIMESTEPS_12, HookedReference, max_diff

import cachepass
from cachepass.models import build

CONFIG = PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2, cross_attention_block_skip_range=3,
                                         cross_attention_timestep_skip_range=(50, 900))


def assert_parity(demo, compiled, reference):
    with torch.no_grad():
        for step, t in enumerate(TIMESTEPS_12):
            assert max_diff(demo(compiled, t), reference(t)) <= 1e-5, step
    graph = cachepass.compiled_graphs(compiled)[0]
    history = graph.states()[0][1].history
    for step, record in enumerate(history):
        reused = {s.name for s in graph.tags.cached_sites if s.cache_kind in record.reused}
        assert reused == reference.reused(step), step
    return graph


def test_classic_processor_with_manual_softmax_matches_the_hooks():
    demo = build("latte")
    for module in demo.module.modules():  # baddbmm -> softmax -> bmm, no SDPA
        if isinstance(module, Attention):
            module.set_processor(AttnProcessor())
    reference = HookedReference(demo, CONFIG)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": CONFIG, "compiler": "eager"})
    graph = assert_parity(demo, compiled, reference)
    kinds = {s.name: s.kind for s in graph.tags.sites}
    assert kinds["transformer_blocks.0.attn2"] == "cross" and kinds["transformer_blocks.0.attn1"] == "spatial"
    assert all(len(s.attention_calls) == 1 for s in graph.tags.sites)  # the softmax of softmax(QK^T)V


class HandWrittenAttention(torch.nn.Module):
    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.q, self.k, self.v = (torch.nn.Linear(dim, dim) for _ in range(3))

    def forward(self, x, context):
        scores = self.q(x) @ self.k(context).transpose(-1, -2) / math.sqrt(x.shape[-1])
        return scores.softmax(dim=-1) @ self.v(context)


class HandWrittenModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self_attn = HandWrittenAttention()
        self.cross_attn = HandWrittenAttention()

    def forward(self, x, context, timestep):
        h = x + timestep[:, None, None] / 1000
        x = x + self.self_attn(h, h)
        return x + self.cross_attn(x, context)


def test_hand_written_attention_in_a_plain_module_is_tagged_and_cached():
    model = HandWrittenModel().eval()
    x, context = torch.randn(1, 4, 8), torch.randn(1, 3, 8)
    window = (100.0, 800.0)
    compiled = torch.compile(model, backend="cachepass", fullgraph=True, options={
        "cache": cachepass.PABConfig(spatial_skip=2, cross_skip=2, spatial_timesteps=window, cross_timesteps=window),
        "compiler": "eager"})
    # The oracle: diffusers' own PAB hook on both attention modules of an eager copy.
    hooked, clock = copy.deepcopy(model), {"t": None}
    for name in ("self_attn", "cross_attn"):
        _apply_pyramid_attention_broadcast_hook(getattr(hooked, name), window, 2, lambda: clock["t"])
    with torch.no_grad():
        outs = [compiled(x, context, torch.tensor([t])) for t in TIMESTEPS_12]
        plain = [model(x, context, torch.tensor([t])) for t in TIMESTEPS_12]
        expected = []
        for t in TIMESTEPS_12:
            clock["t"] = t
            expected.append(hooked(x, context, torch.tensor([t])))
    graph = cachepass.compiled_graphs(compiled)[0]
    assert {s.name: s.kind for s in graph.tags.sites} == {"self_attn": "spatial", "cross_attn": "cross"}
    assert all(max_diff(o, e) <= 1e-6 for o, e in zip(outs, expected))
    reused = [i for i, r in enumerate(graph.states()[0][1].history) if r.reused]
    assert reused and all(max_diff(outs[i], plain[i]) > 0 for i in reused)
    assert all(max_diff(outs[i], plain[i]) <= 1e-6 for i in range(len(outs)) if i not in reused)


@pytest.fixture
def restore_attention_backend():
    """`set_attention_backend` also sets diffusers' process-wide active backend: put it back."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    active = _AttentionBackendRegistry._active_backend
    yield
    _AttentionBackendRegistry.set_active_backend(active)


def test_flex_attention_backend_is_tagged_and_matches_the_hooks(restore_attention_backend):
    demo = build_family("wan")
    demo.module.set_attention_backend("flex")  # diffusers' dispatcher -> torch.ops.higher_order.flex_attention
    reference = HookedReference(demo, CONFIG)
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True,
                             options={"cache": CONFIG, "compiler": "eager"})
    graph = assert_parity(demo, compiled, reference)
    assert {s.cache_kind for s in graph.tags.cached_sites} == {"spatial", "cross"}
    assert all("flex_attention" in " ".join(s.attention_calls) for s in graph.tags.sites)
