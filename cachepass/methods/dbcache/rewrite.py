"""DBCache stages 2 and 4: the block stack cut after the Fn blocks, and its pieces.

For a stack of N blocks, Fn first and Bn last (middle = blocks Fn .. N-Bn-1), on stream values h_i (after block i)
and h_in (block 0's input):

`head` / `head+decide` (the Fn blocks and what they need)::

    ... h_{Fn-1} = block_{Fn-1}(...)
    cache_write__db_fn_residual__0 = h_{Fn-1} - h_in            # r
    return (<values the tail reads>, r, db_probe)               # db_probe = [value?, t_min, t_max]

`tail-compute` (everything else; the middle residual of every stream the Bn blocks or the output read)::

    h_Fn = block_Fn(from_head__h_{Fn-1}) ... ; cache_write__db_middle_residual__k = h_{N-Bn-1} - h_{Fn-1}

`tail-reuse` (every read of h_{N-Bn-1} outside the middle blocks reads `residual + h_{Fn-1}`, as cache-dit's
`apply_cache` gives it; the middle blocks are then dead and removed; the Bn blocks run on it)::

    db_skip__hidden = cache_read__db_middle_residual__0 + from_head__h_{Fn-1}; h_{N-Bn} = block_{N-Bn}(db_skip__hidden) ...

Every piece keeps the captured graph's inputs first, in order (`head(*args, *reads)`, `tail(*args, *handed, *reads)`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from torch import fx

from ...compiler.blocks import BlockStack, StackUser, check_blocks_removed, cut_after, tag_blocks
from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, eliminate_dead_code
from ...compiler.pieces import PieceGraph, copy_rest, head_piece, read_placeholders, residual_writes, tail_start
from ...errors import ConfigError, StageError
from ...integrations.dynamo_meta import variant_module
from .config import DBConfig
from .plan import Piece


@dataclass(frozen=True)
class DBStack:
    """The block stack (compiler/blocks.py) and DBCache's cut of it."""

    stack: BlockStack
    Fn: int
    Bn: int
    head_nodes: frozenset[str]  # the Fn blocks and what they need
    crossing: tuple[str, ...]  # head values the tail reads
    cached: tuple[int, ...]  # streams whose middle residual is cached

    @property
    def middle(self) -> range:
        return range(self.Fn, len(self.stack.blocks) - self.Bn)

    @property
    def fn_output(self) -> str:
        """The hidden stream after the Fn blocks."""
        return self.stack.hidden_stream.values[self.Fn - 1]


STACK_USER = StackUser("DBCache", "DBConfig", "PAB, which caches attention layers",
                       "the blocks between its first Fn and last Bn")


def tag(captured: CapturedGraph, config: DBConfig) -> DBStack:
    stack = tag_blocks(captured, config, STACK_USER)
    Fn, Bn, count = config.Fn_compute_blocks, config.Bn_compute_blocks, len(stack.blocks)
    if Fn + Bn >= count:
        raise ConfigError(f"DBCache F{Fn}B{Bn} on a stack of {count} blocks ({', '.join(stack.lists)}) leaves no middle "
                          f"block to skip: it caches nothing. Use Fn_compute_blocks + Bn_compute_blocks < {count}, "
                          f"e.g. Fn_compute_blocks=1, Bn_compute_blocks=0.")
    cached = cached_streams(captured.gm.graph, stack, Fn, Bn)
    last = count - Bn - 1
    odd = [stack.streams[i].name for i in (*cached, stack.hidden)
           if stack.streams[i].values[Fn - 1] not in stack.blocks[Fn - 1].outputs
           or stack.streams[i].values[last] not in stack.blocks[last].outputs]
    if odd:
        raise ConfigError(f"cachepass DBCache: streams {odd} are not carried by blocks {Fn - 1} and {last}; the middle "
                          f"residual between them is undefined. Use FirstBlockCache, or other Fn/Bn counts.")
    head, crossing = cut_after(captured.gm.graph, stack, Fn)
    return DBStack(stack, Fn, Bn, head, crossing, cached)


def cached_streams(graph: fx.Graph, stack: BlockStack, Fn: int, Bn: int) -> tuple[int, ...]:
    """Streams whose value after the middle is read outside it (by the Bn blocks or after the stack)."""
    last = len(stack.blocks) - Bn - 1
    middle = {name for block in stack.blocks[Fn:last + 1] for name in block.region}
    nodes = {n.name: n for n in graph.nodes}
    return tuple(i for i, s in enumerate(stack.streams) if len(s.values) > last and s.values[last] in middle
                 and any(u.name not in middle for u in nodes[s.values[last]].users))


def head_slot(db: DBStack) -> CacheSlot:
    stream = db.stack.hidden_stream
    return CacheSlot("db_fn_residual", "fn_residual", 0, stream.values[db.Fn - 1], stream.spec)


def tail_slots(db: DBStack) -> tuple[CacheSlot, ...]:
    last = len(db.stack.blocks) - db.Bn - 1
    return tuple(CacheSlot("db_middle_residual", "middle_residual", i, db.stack.streams[i].values[last],
                           db.stack.streams[i].spec) for i in db.cached)


def build_piece(captured: CapturedGraph, db: DBStack, key: Piece) -> PieceGraph:
    if key in ("head", "head+decide"):
        return _head(captured, db, decide=key == "head+decide")
    return _tail(captured, db, reuse=key == "tail-reuse")


def _head(captured: CapturedGraph, db: DBStack, decide: bool) -> PieceGraph:
    return head_piece(captured, db.head_nodes, db.crossing, db.fn_output, db.stack.head_input, head_slot(db), decide,
                      "db")


def _tail(captured: CapturedGraph, db: DBStack, reuse: bool) -> PieceGraph:
    source = captured.gm.graph
    graph, env, nodes = tail_start(source, db.crossing)
    slots = tail_slots(db)
    stack = db.stack
    base = {i: stack.streams[i].values[db.Fn - 1] for i in db.cached}  # each stream after the Fn blocks
    skip: dict[str, fx.Node] = {}  # a stream's value after the middle -> what a reuse step gives it
    if reuse:
        for slot, read in zip(slots, read_placeholders(graph, slots, nodes)):
            value = graph.call_function(operator.add, (read, env[nodes[base[slot.index]]]))
            value.name = f"db_skip__{stack.streams[slot.index].name}"
            skip[slot.node] = value
    middle = {name for i in db.middle for name in stack.blocks[i].region}
    inner = {v for s in stack.streams for v in s.values[db.Fn:db.middle.stop]}  # stream values inside the middle
    results = copy_rest(source, graph, env, db.head_nodes, middle, lambda n, outside: _arg(n, env, skip, inner, outside))
    written = residual_writes(graph, env, nodes, () if reuse else slots, lambda slot: base[slot.index])
    graph.output((*results, *written), type_expr=source.output_node().type)
    before = len(graph.nodes)
    if reuse:
        eliminate_dead_code(graph)
        check_blocks_removed(graph, stack, "DBCache's tail-reuse piece", [stack.blocks[i] for i in db.middle])
    graph.lint()
    gm = variant_module(captured.gm, graph, "Piece_db_tail_reuse" if reuse else "Piece_db_tail_compute")
    example = (*captured.example_inputs(), *(nodes[n].meta.get("example_value") for n in db.crossing),
               *((nodes[s.node].meta["example_value"] for s in slots) if reuse else ()))
    return PieceGraph("tail-reuse" if reuse else "tail-compute", gm, slots if reuse else (),
                      () if reuse else slots, example, len(results), False, before - len(graph.nodes))


def _arg(node: fx.Node, env: dict, skip: dict[str, fx.Node], inner: set[str], outside: bool) -> fx.Node:
    """What a copied node reads for `node`: on reuse steps, code outside the middle blocks reads a stream's value
    after the middle as `skip` gives it; a value inside the middle read from outside it cannot be skipped."""
    if not (skip and outside and node.name in inner):
        return env[node]
    if node.name not in skip:
        raise StageError("rewrite", RuntimeError(
            f"{node.name} (a stream value inside DBCache's middle blocks) is read outside them; the middle blocks "
            f"cannot be skipped for this model"))
    return skip[node.name]
