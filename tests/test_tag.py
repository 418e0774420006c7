"""Tagging: sites, regions and kinds from real Dynamo graphs; what is refused, with reasons."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import cachepass
from cachepass.compiler.capture import module_name_from_path
from cachepass.models import Attention, build

EAGER = {"compiler": "eager"}


def tags_of(model, *args):
    compiled = torch.compile(model, backend="cachepass", options=EAGER)
    with torch.no_grad():
        compiled(*args)
    return cachepass.compiled_graphs(compiled)[0].tags


def test_module_names_from_dynamo_paths():
    assert module_name_from_path("L['self'].__dict__['_modules']['transformer_blocks'].0.attn1") == \
        "transformer_blocks.0.attn1"
    assert module_name_from_path("L['self'].blocks[3].attn") == "blocks[3].attn"
    assert module_name_from_path("L['model'].__dict__['_modules']['attn']") == "model.attn"


def test_cogvideox_joint_attention_has_two_cached_outputs():
    demo = build("cogvideox")
    compiled = torch.compile(demo.module, backend="cachepass", options=EAGER)
    with torch.no_grad():
        demo(compiled, 999.0)
    tags = cachepass.compiled_graphs(compiled)[0].tags
    assert [s.name for s in tags.sites] == ["transformer_blocks.0.attn1", "transformer_blocks.1.attn1"]
    for site in tags.sites:
        assert site.module_class == "diffusers.models.attention_processor.Attention"
        assert site.kind == "spatial" and site.cache_kind == "spatial"
        assert len(site.outputs) == 2  # text and video halves of the joint attention
        assert [spec.shape for spec in site.output_specs] == [(1, 8, 16), (1, 32, 16)]
        assert len(site.attention_calls) == 1


class InlineAttentionBlock(torch.nn.Module):
    """Calls SDPA itself, in a block that also holds an MLP: caching it would skip the MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)
        self.mlp = torch.nn.Linear(8, 8)

    def forward(self, x, timestep):
        q, k, v = self.qkv(x + timestep).chunk(3, dim=-1)
        return self.mlp(F.scaled_dot_product_attention(q, k, v))


def test_attention_in_a_non_attention_module_is_refused_with_a_reason():
    tags = tags_of(InlineAttentionBlock().eval(), torch.randn(1, 4, 8), torch.tensor(999.0))
    assert tags.sites == ()
    [rejection] = tags.rejected
    assert rejection.where == "scaled_dot_product_attention"
    assert "attention called directly in the compiled forward itself" in rejection.reason
    assert "Move the attention into a module named like '*attn*'" in rejection.reason


class SharedAttention(torch.nn.Module):
    """One attention module called twice per forward (shared weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = Attention(8, 2)
        self.mid = torch.nn.Linear(8, 8)

    def forward(self, x, timestep):
        return self.attn(self.mid(self.attn(x + timestep)))


def test_attention_called_twice_is_two_sites_or_refused_under_diffusers_rules():
    model, x, t = SharedAttention().eval(), torch.randn(1, 4, 8), torch.tensor(999.0)
    tags = tags_of(model, x, t)
    assert [s.name for s in tags.sites] == ["attn", "attn#1"]  # each call caches its own output
    assert set(tags.sites[0].region).isdisjoint(tags.sites[1].region)

    torch._dynamo.reset()
    compiled = torch.compile(model, backend="cachepass", options={
        "compiler": "eager", "cache": cachepass.PABConfig(classification="diffusers")})
    with torch.no_grad():
        compiled(x, t)
    tags = cachepass.compiled_graphs(compiled)[-1].tags
    assert tags.sites == ()
    assert [(r.where, "called more than once per forward" in r.reason) for r in tags.rejected] == [("attn", True)]


class TwoStreams(torch.nn.Module):
    """Cross attention must come from the data flow, whatever the module is called."""

    def __init__(self) -> None:
        super().__init__()
        self.attn_a = Attention(8, 2)
        self.attn_b = Attention(8, 2, context_dim=8)

    def forward(self, x, context, timestep):
        x = x + self.attn_a(x + timestep)
        return x + self.attn_b(x, context)


def test_cross_attention_is_read_from_the_graph():
    tags = tags_of(TwoStreams().eval(), torch.randn(1, 4, 8), torch.randn(1, 3, 8), torch.tensor(999.0))
    kinds = {s.name: (s.kind, s.kind_reason) for s in tags.sites}
    assert kinds["attn_a"][0] == "spatial"
    assert kinds["attn_b"][0] == "cross" and "l_context_" in kinds["attn_b"][1]
