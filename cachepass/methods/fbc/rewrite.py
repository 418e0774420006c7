"""FirstBlockCache stage 4, rewrite: cut the captured graph after the first block into pieces.

Before (the captured graph, a two-block stack)::

    x0 = embed(hidden_states); h0 = block0(x0, temb); h1 = block1(h0, temb); return proj_out(h1)

`head` (block 0 and what it needs; returns what the tail reads, the residual, the timestep probe)::

    def forward(<graph inputs>):
        x0 = embed(hidden_states); h0 = block0(x0, temb)
        cache_write__fbc_head_residual__0 = h0 - x0
        return (temb, h0, cache_write__fbc_head_residual__0, fbc_probe)     # fbc_probe = [t_min, t_max]

`head+decide` also reads `cache_read__fbc_head_residual__0` (p) and puts the decision value
`mean|r - p| / mean|p|` first in `fbc_probe`, so that ONE host read gives the value and the timestep.
Under context parallelism the value is reduced over the ranks inside this piece (see `compiler/probe.py`).

`tail-compute` (the remaining blocks; the tail residual of every cached stream)::

    def forward(<graph inputs>, from_head__temb, from_head__h0):
        h1 = block1(from_head__h0, from_head__temb)
        cache_write__fbc_tail_residual__0 = h1 - from_head__h0
        return (proj_out(h1), cache_write__fbc_tail_residual__0)

`tail-reuse` (every use of a stream after block 0, outside the blocks, reads `residual + h0`, as
diffusers' head hook returns it; the blocks are then dead and removed)::

    def forward(<graph inputs>, from_head__temb, from_head__h0, cache_read__fbc_tail_residual__0):
        fbc_skip__hidden = cache_read__fbc_tail_residual__0 + from_head__h0
        return (proj_out(fbc_skip__hidden),)

Every piece keeps the captured graph's inputs first, in order, so the runtime calls the head as
`head(*args, *reads)` and a tail as `tail(*args, *head_values, *reads)`.
"""

from __future__ import annotations

import logging
import operator

from torch import fx

from ...compiler.blocks import BlockStack, check_blocks_removed, stream_arg
from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, eliminate_dead_code
from ...compiler.pieces import PieceGraph, copy_rest, head_piece, read_placeholders, residual_writes, tail_start
from ...integrations.dynamo_meta import variant_module
from .plan import Piece

logger = logging.getLogger(__name__)


def head_slot(stack: BlockStack) -> CacheSlot:
    stream = stack.hidden_stream
    return CacheSlot("fbc_head_residual", "head_residual", 0, stream.head_output, stream.spec)


def tail_slots(stack: BlockStack) -> tuple[CacheSlot, ...]:
    return tuple(CacheSlot("fbc_tail_residual", "tail_residual", i, stack.streams[i].last, stack.streams[i].spec)
                 for i in stack.cached_streams)


def build_piece(captured: CapturedGraph, stack: BlockStack, key: Piece) -> PieceGraph:
    if key in ("head", "head+decide"):
        return _head(captured, stack, decide=key == "head+decide")
    return _tail(captured, stack, reuse=key == "tail-reuse")


def _head(captured: CapturedGraph, stack: BlockStack, decide: bool) -> PieceGraph:
    return head_piece(captured, stack.head_nodes, stack.crossing, stack.hidden_stream.head_output, stack.head_input,
                      head_slot(stack), decide, "fbc")


def _tail(captured: CapturedGraph, stack: BlockStack, reuse: bool) -> PieceGraph:
    source = captured.gm.graph
    graph, env, nodes = tail_start(source, stack.crossing)
    reads = tail_slots(stack) if reuse else ()
    skip: dict[str, fx.Node] = {}  # stream value after block 0 -> the value a skip step gives it
    if reuse:
        for slot, read in zip(reads, read_placeholders(graph, reads, nodes)):
            stream = stack.streams[slot.index]
            value = graph.call_function(operator.add, (read, env[nodes[stream.head_output]]))
            value.name = f"fbc_skip__{stream.name}"
            skip.update({name: value for name in stream.values})
    results = copy_rest(source, graph, env, stack.head_nodes, stack.block_of(),
                        lambda n, outside: stream_arg(n, env, skip, stack, outside))
    writes = () if reuse else tail_slots(stack)
    written = residual_writes(graph, env, nodes, writes, lambda slot: stack.streams[slot.index].head_output)
    graph.output((*results, *written), type_expr=source.output_node().type)
    before = len(graph.nodes)
    if reuse:
        eliminate_dead_code(graph)
        check_blocks_removed(graph, stack, "FirstBlockCache's tail-reuse piece", stack.blocks[1:])
    graph.lint()
    gm = variant_module(captured.gm, graph, "Piece_tail_reuse" if reuse else "Piece_tail_compute")
    example = (*captured.example_inputs(), *(nodes[n].meta.get("example_value") for n in stack.crossing),
               *(nodes[s.node].meta["example_value"] for s in reads))
    return PieceGraph("tail-reuse" if reuse else "tail-compute", gm, reads, writes, example, len(results), False,
                      before - len(graph.nodes))
