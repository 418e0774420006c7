"""TeaCache stage 4, rewrite: the captured graph cut before the decision into a head and two tails.

- `head`: the indicator and every node it needs; returns the values the tail reads, the indicator (kept for
  the next step) and, when there is something to read, `tea_probe` = [t_min, t_max] of the timestep.
- `head+compare`: also reads `cache_read__tea_indicator__0` (the previous step's indicator m_prev) and puts
  `mean|m - m_prev| / mean|m_prev|` first in `tea_probe`, in the indicator's dtype as the authors' scripts
  compute it: ONE host read gives the value and the timestep.
- `compute`: every other node; writes each cached stream's residual over the whole stack (`last value -
  block 0's input`), as the scripts' `previous_residual` (CogVideoX: also `previous_residual_encoder`).
- `skip`: every block is dead code: each cached stream after the stack is `block 0's input + its residual`.

Every piece keeps the captured graph's inputs first: `head(*args, *reads)`, `tail(*args, *head_values, *reads)`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Literal

from torch import fx

from ...compiler.blocks import check_blocks_removed, stream_arg
from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, KeyedVariant, eliminate_dead_code
from ...compiler.pieces import copy_placeholders, copy_rest, probe_tensor, read_placeholders, residual_writes, tail_start
from ...compiler.regions import tensor_spec
from ...errors import StageError
from ...integrations.dynamo_meta import variant_module
from .tag import TeaBlockTags, TeaTags

Piece = Literal["head", "head+compare", "compute", "skip"]
PIECES: tuple[Piece, ...] = ("head", "head+compare", "compute", "skip")


@dataclass(frozen=True)
class TeaPiece(KeyedVariant):
    key: Piece
    num_outputs: int  # outputs before the writes and the probe
    probe: bool  # the head's last output is the probe tensor
    nodes_removed: int = 0


def indicator_slot(tags: TeaTags | TeaBlockTags, captured: CapturedGraph) -> CacheSlot:
    node = next(n for n in captured.gm.graph.nodes if n.name == tags.indicator)
    return CacheSlot("tea_indicator", "indicator", 0, tags.indicator, tensor_spec(node.meta["example_value"]))


def residual_slots(tags: TeaTags) -> tuple[CacheSlot, ...]:
    stack = tags.stack
    return tuple(CacheSlot("tea_residual", "residual", i, stack.streams[i].last, stack.streams[i].spec)
                 for i in stack.cached_streams)


def build_piece(captured: CapturedGraph, tags: TeaTags, key: Piece) -> TeaPiece:
    if key in ("head", "head+compare"):
        return head_piece(captured, tags, compare=key == "head+compare")
    return _tail(captured, tags, skip=key == "skip")


def head_piece(captured: CapturedGraph, tags: TeaTags | TeaBlockTags, compare: bool) -> TeaPiece:
    """`head` / `head+compare`; for a graph of one block (regional.py) the indicator and its probe alone."""
    source = captured.gm.graph
    nodes = {n.name: n for n in source.nodes}
    graph, env = fx.Graph(), {}
    copy_placeholders(source, graph, env)
    slot = indicator_slot(tags, captured)
    previous = None
    if compare:
        previous = graph.placeholder(slot.read_name)
        previous.meta["example_value"] = nodes[tags.indicator].meta["example_value"]
    for node in source.nodes:
        if node.name in tags.head_nodes:
            env[node] = graph.node_copy(node, lambda n: env[n])
    indicator = env[nodes[tags.indicator]]
    timestep = (env[captured.placeholders()[captured.timestep_input]] if captured.timestep_input is not None
                else None)
    probe = _probe(graph, indicator, previous, timestep)
    crossing = [env[nodes[name]] for name in tags.crossing]
    graph.output((*crossing, indicator, *([probe] if probe is not None else [])))
    graph.lint()
    gm = variant_module(captured.gm, graph, "TeaPiece_head_compare" if compare else "TeaPiece_head")
    example = (*captured.example_inputs(), *([previous.meta["example_value"]] if compare else []))
    return TeaPiece("head+compare" if compare else "head", gm, (slot,) if compare else (), (slot,), example,
                    len(crossing), probe is not None)


def _probe(graph: fx.Graph, indicator: fx.Node, previous: fx.Node | None, timestep: fx.Node | None) -> fx.Node | None:
    """[value?, t_min?, t_max?] in float32, read with one `.tolist()`."""
    parts = []
    if previous is not None:  # the scripts: (m - m_prev).abs().mean() / m_prev.abs().mean(), in m's dtype
        change = graph.call_method("mean", (graph.call_method("abs", (graph.call_function(operator.sub,
                                                                                          (indicator, previous)),)),))
        scale = graph.call_method("mean", (graph.call_method("abs", (previous,)),))
        value = graph.call_function(operator.truediv, (change, scale))
        parts.append(graph.call_method("reshape", (graph.call_method("float", (value,)), (1,))))
    return probe_tensor(graph, parts, timestep, "tea_probe")


def _tail(captured: CapturedGraph, tags: TeaTags, skip: bool) -> TeaPiece:
    stack = tags.stack
    source = captured.gm.graph
    graph, env, nodes = tail_start(source, tags.crossing)
    slots = residual_slots(tags)
    reads = read_placeholders(graph, slots, nodes) if skip else []
    values: dict[str, fx.Node] = {}  # skip: stream value -> block 0's input + its residual

    def start_skip() -> None:  # once every block-0 input a skip step carries on is copied
        if skip and not values and _ready(tags, env, nodes):
            values.update(_skip_values(graph, tags, env, nodes, reads))

    results = copy_rest(source, graph, env, tags.head_nodes, stack.block_of(),
                        lambda n, outside: stream_arg(n, env, values, stack, outside), start_skip)
    written = residual_writes(graph, env, nodes, () if skip else slots, lambda slot: stack.stream_inputs[slot.index])
    graph.output((*results, *written), type_expr=source.output_node().type)
    before = len(graph.nodes)
    if skip:
        eliminate_dead_code(graph)
        check_blocks_removed(graph, stack, "TeaCache's skip piece", stack.blocks)
    graph.lint()
    gm = variant_module(captured.gm, graph, "TeaPiece_skip" if skip else "TeaPiece_compute")
    example = (*captured.example_inputs(), *(nodes[n].meta.get("example_value") for n in tags.crossing),
               *(nodes[s.node].meta["example_value"] for s in (slots if skip else ())))
    return TeaPiece(skip and "skip" or "compute", gm, slots if skip else (), () if skip else slots, example,
                    len(results), False, before - len(graph.nodes))


def _ready(tags: TeaTags, env: dict, nodes: dict[str, fx.Node]) -> bool:
    """Whether every block-0 input a skip step carries on has been copied."""
    stack = tags.stack
    return all(nodes[stack.stream_inputs[i]] in env for i in stack.cached_streams)


def _skip_values(graph: fx.Graph, tags: TeaTags, env: dict, nodes: dict[str, fx.Node],
                 reads: list[fx.Node]) -> dict[str, fx.Node]:
    stack, values = tags.stack, {}
    for i, read in zip(stack.cached_streams, reads):
        stream = stack.streams[i]
        value = graph.call_function(operator.add, (env[nodes[stack.stream_inputs[i]]], read))
        value.name = f"tea_skip__{stream.name}"
        values.update({name: value for name in stream.values})
    if not values:
        raise StageError("rewrite", RuntimeError("TeaCache: no stream of the block stack can be skipped"))
    return values
