"""The head piece of the block-stack methods that decide from a residual's change (FirstBlockCache, DBCache): the
blocks that always run and what they need, the residual they added, and the decision probe -- one small fp32
tensor the runtime reads with ONE `.tolist()` per step."""

from __future__ import annotations

import operator
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import fx

from ..integrations.dynamo_meta import variant_module
from ..integrations.parallel import CPGroup, all_reduce_sum, cp_group
from .capture import CapturedGraph
from .editing import CacheSlot, KeyedVariant

if TYPE_CHECKING:
    from .blocks import BlockGraphStreams


@dataclass(frozen=True)
class PieceGraph(KeyedVariant):
    """One compiled piece of a step cut in two (head, then one tail)."""

    key: str
    num_outputs: int  # outputs before the writes: the head's values for the tail, or the model's outputs
    probe: bool  # the head's last output is the probe tensor
    nodes_removed: int = 0
    reduced: bool = False  # the probe's value is reduced over the CP group; this rank's own value follows it


def head_piece(captured: CapturedGraph, head_nodes: frozenset[str], crossing: tuple[str, ...], output: str,
               start: str, slot: CacheSlot, decide: bool, prefix: str) -> PieceGraph:
    """The head: `head_nodes` copied; `slot` written with the residual `output - start`; with `decide`, `slot`'s
    previous value read and the change value first in the probe (named `<prefix>_probe`). Returns the `crossing`
    values, the residual and the probe."""
    source = captured.gm.graph
    graph, env = fx.Graph(), {}
    placeholders = copy_placeholders(source, graph, env)
    nodes = {n.name: n for n in source.nodes}
    prev = None
    if decide:
        prev = graph.placeholder(slot.read_name)
        prev.meta["example_value"] = nodes[slot.node].meta["example_value"]
    for node in source.nodes:
        if node.name in head_nodes:
            env[node] = graph.node_copy(node, lambda n: env[n])
    residual = graph.call_function(operator.sub, (env[nodes[output]], env[nodes[start]]))
    residual.name = slot.write_name
    group = cp_group(source)
    timestep = env.get(nodes[placeholders[captured.timestep_input]]) if captured.timestep_input is not None else None
    probe = change_probe(graph, residual, prev, timestep, group, f"{prefix}_probe")
    handed = [env[nodes[name]] for name in crossing]
    graph.output((*handed, residual, *([probe] if probe is not None else [])))
    graph.lint()
    gm = variant_module(captured.gm, graph, "Piece_head_decide" if decide else "Piece_head")
    example = (*captured.example_inputs(), *([prev.meta["example_value"]] if decide else []))
    return PieceGraph("head+decide" if decide else "head", gm, (slot,) if decide else (), (slot,), example,
                      len(handed), probe is not None, reduced=decide and group is not None)


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
    return probe_tensor(graph, parts, timestep, name)


def probe_tensor(graph: fx.Graph, parts: list[fx.Node], timestep: fx.Node | None, name: str) -> fx.Node | None:
    """`parts` then [t_min, t_max] of `timestep` (when there is one), all float32, in one tensor `name` that the
    runtime reads with ONE `.tolist()`; None when there is nothing to read."""
    if timestep is not None:
        flat = graph.call_method("reshape", (graph.call_method("float", (timestep,)), (-1,)))
        parts = [*parts, *(graph.call_method("reshape", (graph.call_method(op, (flat,)), (1,))) for op in ("min", "max"))]
    if not parts:
        return None
    probe = graph.call_function(torch.cat, (parts,))
    probe.name = name
    return probe


def tail_start(source: fx.Graph, crossing: tuple[str, ...]) -> tuple[fx.Graph, dict, dict[str, fx.Node]]:
    """A tail piece's new graph with its inputs: the captured graph's, then the head's `crossing` values
    (`from_head__<name>`). Returns (graph, env: source node -> new node, the source's nodes by name)."""
    nodes = {n.name: n for n in source.nodes}
    graph, env = fx.Graph(), {}
    copy_placeholders(source, graph, env)
    for name in crossing:
        placeholder = graph.placeholder(f"from_head__{name}")
        placeholder.meta["example_value"] = nodes[name].meta.get("example_value")
        env[nodes[name]] = placeholder
    return graph, env, nodes


def read_placeholders(graph: fx.Graph, slots: tuple[CacheSlot, ...], nodes: dict[str, fx.Node]) -> list[fx.Node]:
    """A reuse piece's inputs after the head's values: one `cache_read__...` per slot, shaped as its node."""
    reads = []
    for slot in slots:
        placeholder = graph.placeholder(slot.read_name)
        placeholder.meta["example_value"] = nodes[slot.node].meta["example_value"]
        reads.append(placeholder)
    return reads


def copy_rest(source: fx.Graph, graph: fx.Graph, env: dict, done: frozenset[str], inside: Container[str],
              arg: Callable[[fx.Node, bool], fx.Node], before: Callable[[], None] | None = None) -> tuple[fx.Node, ...]:
    """A tail piece's body: every node of `source` not in `done` copied, each read going through `arg(node,
    outside)` (`outside`: the reader is not in `inside`, the blocks a reuse step may drop); `before` runs ahead of
    each copy. Returns the model's outputs, as `arg` gives them."""
    for node in source.nodes:
        if node.op in ("placeholder", "output") or node.name in done:
            continue
        if before is not None:
            before()
        outside = node.name not in inside
        env[node] = graph.node_copy(node, lambda n, outside=outside: arg(n, outside))
    results = fx.map_arg(source.output_node().args[0], lambda n: arg(n, True))
    return tuple(results) if isinstance(results, (tuple, list)) else (results,)


def residual_writes(graph: fx.Graph, env: dict, nodes: dict[str, fx.Node], slots: tuple[CacheSlot, ...],
                    start: Callable[[CacheSlot], str]) -> list[fx.Node]:
    """One `cache_write__...` per slot: its node's value minus the value `start(slot)` names."""
    written = []
    for slot in slots:
        residual = graph.call_function(operator.sub, (env[nodes[slot.node]], env[nodes[start(slot)]]))
        residual.name = slot.write_name
        written.append(residual)
    return written


def copy_placeholders(source: fx.Graph, graph: fx.Graph, env: dict) -> list[str]:
    """The captured graph's inputs first, in order, in a piece's new graph: pieces are called `(*args, ...)`."""
    names = []
    for node in source.find_nodes(op="placeholder"):
        env[node] = graph.node_copy(node)
        names.append(node.name)
    return names


def block_head(captured: CapturedGraph, streams: BlockGraphStreams, slot: CacheSlot, decide: bool, probe_name: str) -> PieceGraph:
    """The block graph, plus the residual `hidden out - hidden in` and, with `decide`, the previous residual read
    and the decision value in a probe: outputs (*the block's, residual, probe?)."""
    source = captured.gm.graph
    graph, env = torch.fx.Graph(), {}
    copy_placeholders(source, graph, env)
    outputs = list(torch.fx.map_arg(source.output_node().args[0], lambda n: n))
    example = outputs[streams.hidden].meta["example_value"]
    prev = None
    if decide:
        prev = graph.placeholder(slot.read_name)
        prev.meta["example_value"] = example
    for node in source.nodes:
        if node.op not in ("placeholder", "output"):
            env[node] = graph.node_copy(node, lambda n: env[n])
    hidden_in = env[captured.placeholders()[streams.carried[streams.hidden]]]
    residual = graph.call_function(torch.sub, (env[outputs[streams.hidden]], hidden_in))
    residual.name = slot.write_name
    probe = change_probe(graph, residual, prev, None, cp_group(source), probe_name)
    graph.output((*(env[o] for o in outputs), residual, *([probe] if probe is not None else [])))
    graph.lint()
    gm = variant_module(captured.gm, graph, "Piece_head_decide" if decide else "Piece_head")
    inputs = (*captured.example_inputs(), *([example] if decide else []))
    return PieceGraph("head+decide" if decide else "head", gm, (slot,) if decide else (), (slot,), inputs,
                      len(outputs), probe is not None)
