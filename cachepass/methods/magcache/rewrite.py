"""MagCache stage 4, rewrite: the two (three with calibration) variants of the captured graph.

- `compute`: the graph as captured, plus `cache_write__mag_residual__0 = last block's hidden states - first
  block's hidden-states input` (diffusers' tail hook);
- `compute+calibrate`: also reads the previous residual and returns `mag_ratio = mean(|r| / (|r_prev| +
  1e-8))` over the last dim (diffusers' `_perform_calibration_step`), kept on the device;
- `skip`: every block is dead code; after the stack, the hidden states are `first block's input +
  cache_read__mag_residual__0` and every other stream is the first block's input of that stream, as
  diffusers' head hook returns them.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx

from ...compiler.blocks import BlockStack
from ...compiler.blocks import check_blocks_removed, copy_skipping_stack, skipped_stream_values
from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, KeyedVariant, eliminate_dead_code
from ...integrations.dynamo_meta import variant_module
from .plan import Variant


@dataclass(frozen=True)
class MagVariant(KeyedVariant):
    key: Variant
    ratio: bool  # the last output is the calibration ratio
    nodes_removed: int = 0


def residual_slot(stack: BlockStack) -> CacheSlot:
    stream = stack.hidden_stream
    return CacheSlot("mag_residual", "residual", 0, stream.last, stream.spec)


def build_mag_variant(captured: CapturedGraph, stack: BlockStack, key: Variant) -> MagVariant:
    source = captured.gm.graph
    nodes = {n.name: n for n in source.nodes}
    graph, env = fx.Graph(), {}
    for node in source.find_nodes(op="placeholder"):
        env[node] = graph.node_copy(node)
    slot = residual_slot(stack)
    read = None
    if key != "compute":
        read = graph.placeholder(slot.read_name)
        read.meta["example_value"] = nodes[slot.node].meta["example_value"]
    skip = (lambda: _skip_values(graph, stack, env, nodes, read)) if key == "skip" else None
    results = copy_skipping_stack(source, graph, env, stack, skip)
    output = source.output_node()
    extra, writes = [], ()
    if key != "skip":
        residual = graph.call_function(operator.sub, (env[nodes[stack.hidden_stream.last]], env[nodes[stack.head_input]]))
        residual.name = slot.write_name
        extra.append(residual)
        writes = (slot,)
    if key == "compute+calibrate":
        extra.append(_ratio(graph, residual, read))
    graph.output((*results, *extra), type_expr=output.type)
    before = len(graph.nodes)
    if key == "skip":
        eliminate_dead_code(graph)
        check_blocks_removed(graph, stack, "MagCache's skip variant", stack.blocks)
    graph.lint()
    gm = variant_module(captured.gm, graph, f"MagVariant_{key.replace('+', '_')}")
    example = (*captured.example_inputs(), *([read.meta["example_value"]] if read is not None else []))
    return MagVariant(key, gm, (slot,) if read is not None else (), writes, example, key == "compute+calibrate",
                      before - len(graph.nodes))


def _skip_values(graph: fx.Graph, stack: BlockStack, env: dict, nodes: dict[str, fx.Node],
                 read: fx.Node) -> dict[str, fx.Node]:
    """Stream value -> what a skipped step gives it: hidden = input + residual, others = their input."""
    value = graph.call_function(operator.add, (env[nodes[stack.head_input]], read))
    value.name = "mag_skip__hidden"
    return skipped_stream_values(graph, stack, env, value, {}, "MagCache")


def _ratio(graph: fx.Graph, residual: fx.Node, previous: fx.Node) -> fx.Node:
    """diffusers: (norm(r.float(), dim=-1) / (norm(prev.float(), dim=-1) + 1e-8)).mean()."""
    current = graph.call_function(torch.linalg.norm, (graph.call_method("float", (residual,)),), {"dim": -1})
    before = graph.call_function(torch.linalg.norm, (graph.call_method("float", (previous,)),), {"dim": -1})
    ratio = graph.call_method("mean", (graph.call_function(operator.truediv,
                                                           (current, graph.call_function(operator.add, (before, 1e-8)))),))
    ratio.name = "mag_ratio"
    return ratio
