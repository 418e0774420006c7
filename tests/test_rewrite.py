"""Graph variants: explicit cache points, dead attention removed, everything else kept."""

from __future__ import annotations

import torch

import cachepass
from cachepass.models import Attention, build
from cachepass.methods.pab.rewrite import build_variant


class InPlaceBeforeAttention(torch.nn.Module):
    """Writes into a view in place and never reads the result by name, like CogVideoX's positional
    embedding (`joint[:, text:].copy_(pos)`): FX's dead-code elimination alone would drop the write."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = Attention(8, 2)
        self.pos = torch.nn.Parameter(torch.randn(4, 8))

    def forward(self, x, timestep):
        joint = x.new_zeros(x.shape[0], 6, 8)
        joint.data[:, 2:].copy_(self.pos)
        return self.attn(joint + timestep)


def compiled_graph(model, *args, cache=None):
    compiled = torch.compile(model, backend="cachepass", options={"compiler": "eager", "cache": cache})
    with torch.no_grad():
        out = compiled(*args)
    return compiled, cachepass.compiled_graphs(compiled)[0], out


def test_in_place_writes_survive_dead_code_elimination():
    model = InPlaceBeforeAttention().eval()
    x, t = torch.randn(1, 4, 8), torch.tensor(999.0)
    _, graph, out = compiled_graph(model, x, t)
    with torch.no_grad():
        assert torch.equal(out, model(x, t))
    assert any(n.target == "copy_" for n in graph.lowered[frozenset()].variant.gm.graph.nodes)


def test_variants_name_their_cache_points_and_drop_dead_attention():
    demo = build("latte")
    config = cachepass.PABConfig(spatial_skip=2, temporal_skip=3, cross_skip=4)
    compiled = torch.compile(demo.module, backend="cachepass", options={"compiler": "eager", "cache": config})
    with torch.no_grad():
        demo(compiled, 999.0)
    graph = cachepass.compiled_graphs(compiled)[0]
    variant = build_variant(graph.captured, graph.tags, frozenset({"spatial", "cross"}))
    names = [n.name for n in variant.gm.graph.nodes]
    reads = [n for n in names if n.startswith("cache_read__")]
    writes = [n for n in names if n.startswith("cache_write__")]
    assert reads == ["cache_read__transformer_blocks_0_attn1__0", "cache_read__transformer_blocks_0_attn2__0",
                     "cache_read__transformer_blocks_1_attn1__0", "cache_read__transformer_blocks_1_attn2__0"]
    assert writes == ["cache_write__temporal_transformer_blocks_0_attn1__0",
                      "cache_write__temporal_transformer_blocks_1_attn1__0"]
    output_names = [a.name for a in variant.gm.graph.output_node().args[0]]
    assert output_names[graph.captured.num_outputs:] == writes
    for site in graph.tags.sites:
        for call in site.attention_calls:
            assert (call in names) == (site.cache_kind == "temporal"), site.name
    placeholders = [n.name for n in variant.gm.graph.find_nodes(op="placeholder")]
    assert placeholders[: len(graph.captured.inputs)] == [i.name for i in graph.captured.inputs]
    assert placeholders[len(graph.captured.inputs):] == reads
    assert variant.nodes_removed > 4 * 10  # four attention regions of 16 nodes each, at least
