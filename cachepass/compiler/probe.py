"""The decision probe of the block-stack methods that decide from a residual's change (FirstBlockCache,
DBCache): one small fp32 tensor a head piece returns, read by the runtime with ONE `.tolist()` per step."""

from __future__ import annotations

import operator

import torch
from torch import fx

from ..integrations.parallel import CPGroup, all_reduce_sum


def change_probe(graph: fx.Graph, residual: fx.Node, prev: fx.Node | None, timestep: fx.Node | None,
                 group: CPGroup | None, name: str) -> fx.Node | None:
    """[value?, this rank's value?, t_min?, t_max?]: value = mean|r - p| / mean|p| in the residual's dtype
    (diffusers' FBC hook and cache-dit's `similarity` alike; |r - p| = |p - r| exactly).

    Under context parallelism the residuals are this rank's shard of the sequence: the value is then
    sum|r - p| / sum|p| with both sums reduced over the CP group (one all-reduce of two numbers), which is
    the one-process value, the same on every rank; this rank's own value follows it, for the report."""
    parts = []
    if prev is not None:
        change = graph.call_method("abs", (graph.call_function(operator.sub, (residual, prev)),))
        scale = graph.call_method("abs", (prev,))
        local = graph.call_function(operator.truediv, (graph.call_method("mean", (change,)),
                                                       graph.call_method("mean", (scale,))))
        local = graph.call_method("reshape", (graph.call_method("float", (local,)), (1,)))
        if group is not None:
            sums = graph.call_function(torch.stack, ([graph.call_method("float", (graph.call_method("sum", (t,)),))
                                                      for t in (change, scale)],))
            total = all_reduce_sum(graph, sums, group)
            value = graph.call_function(operator.truediv, (graph.call_function(operator.getitem, (total, 0)),
                                                           graph.call_function(operator.getitem, (total, 1))))
            parts += [graph.call_method("reshape", (value, (1,))), local]
        else:
            parts.append(local)
    if timestep is not None:
        flat = graph.call_method("reshape", (graph.call_method("float", (timestep,)), (-1,)))
        parts += [graph.call_method("reshape", (graph.call_method(op, (flat,)), (1,))) for op in ("min", "max")]
    if not parts:
        return None
    probe = graph.call_function(torch.cat, (parts,))
    probe.name = name
    return probe


def copy_placeholders(source: fx.Graph, graph: fx.Graph, env: dict) -> list[str]:
    """The captured graph's inputs first, in order, in a piece's new graph: pieces are called `(*args, ...)`."""
    names = []
    for node in source.find_nodes(op="placeholder"):
        env[node] = graph.node_copy(node)
        names.append(node.name)
    return names
