"""Stage 4, rewrite: build one graph variant per set of reused kinds.

Every variant is a copy of the captured graph with two kinds of explicit, named cache points:

- cache reads: each output of a reused site becomes a new placeholder `cache_read__<site>__<i>`,
  appended after the original inputs; the site's region is then dead and removed;
- cache writes: each output of a computed, cached site is renamed `cache_write__<site>__<i>` and
  returned after the original outputs, so the runtime can store it.

Before (a CogVideoX block, spatial attention cached)::

    hidden_states_8 = torch._C._nn.linear(...)          # attn1.to_out[0]
    ...
    return (output_1,)

After, variant `compute` (runs attention, returns it for the cache)::

    cache_write__transformer_blocks_0_attn1__1 = torch._C._nn.linear(...)
    ...
    return (output_1, cache_write__transformer_blocks_0_attn1__0, cache_write__transformer_blocks_0_attn1__1)

After, variant `reuse-spatial` (reads the cache; the attention region is gone)::

    def forward(self, l_kwargs_hidden_states_, ..., cache_read__transformer_blocks_0_attn1__0, ...):
        ...
        add_1 = hidden_states_7 + mul_2 * cache_read__transformer_blocks_0_attn1__1

Each variant keeps the original inputs in order, so the runtime calls any of them as
`fn(*dynamo_args, *cache_reads)` and splits the result at `num_outputs`.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any

import torch
from torch import fx

from ..errors import located
from ..integrations.parallel import is_removable_wait
from .attention import AttentionSite
from .regions import TensorSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyedVariant:
    """A graph variant named by its key, with the cache slots it reads (extra inputs, last) and writes (extra
    outputs after its own): the shape of FirstBlockCache's pieces and MagCache's variants (`lower.Variant`)."""

    key: str
    gm: fx.GraphModule
    reads: tuple[CacheSlot, ...]
    writes: tuple[CacheSlot, ...]
    example_inputs: tuple[Any, ...]

    @property
    def name(self) -> str:
        return self.key


@dataclass(frozen=True)
class CacheSlot:
    """One cached tensor: output `index` of attention site `site`."""

    site: str
    kind: str  # the schedule it belongs to (an attention kind, a block stack stream, ...)
    index: int
    node: str  # the output's node name in the captured graph
    spec: TensorSpec

    @functools.cached_property  # the runtime looks it up on every cache read and write
    def ident(self) -> str:
        return f"{re.sub(r'[^0-9a-zA-Z]+', '_', self.site).strip('_')}__{self.index}"

    @property
    def read_name(self) -> str:
        return f"cache_read__{self.ident}"

    @property
    def write_name(self) -> str:
        return f"cache_write__{self.ident}"


def cache_slots(sites: tuple[AttentionSite, ...]) -> dict[str, tuple[CacheSlot, ...]]:
    """The slots of every cached site, by site name."""
    return {
        site.name: tuple(CacheSlot(site.name, site.cache_kind, i, node, spec)
                         for i, (node, spec) in enumerate(zip(site.outputs, site.output_specs)))
        for site in sites if site.cached
    }


def copy_graph(source: fx.Graph) -> fx.Graph:
    """A copy sharing node meta values (the same FakeTensors, so symbolic sizes stay consistent)."""
    graph = fx.Graph()
    result = graph.graph_copy(source, {})
    graph.output(result, type_expr=source.output_node().type)
    return graph


def is_impure(node: fx.Node) -> bool:
    """Whether dead-code elimination must keep `node` although nothing uses its value.

    FX's own rule misses side effects that Dynamo graphs keep from eager code: in-place writes such
    as `view.copy_(x)` (CogVideoX's positional embedding) and interpreter state changes such as
    `_vmap_decrement_nesting` (flex attention's mask building). So only pure tensor computations --
    nodes whose value is a tensor or a tuple of tensors, not produced in place -- may be removed. A
    collective's wait whose value nothing uses may go too (parallel.py)."""
    if is_removable_wait(node) or is_size_arithmetic(node):
        return False
    if node.is_impure():
        return True
    if node.op not in ("call_method", "call_function"):
        return False
    target = node.target
    if isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable:
        return True
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    if (name.endswith("_") and not name.endswith("__")) or "out" in node.kwargs:
        return True
    return not _is_tensor_value(node.meta.get("example_value"))


_TENSOR_SIZES = frozenset({torch.ops.aten.sym_size.int, torch.ops.aten.sym_stride.int,
                           torch.ops.aten.sym_numel.default, torch.ops.aten.sym_storage_offset.default})
_SIZE_FUNCTIONS = frozenset({
    torch.sym_sum, torch.sym_max, torch.sym_min, torch.sym_not,
    torch.sym_int, torch.sym_float, torch.sym_ite, operator.add, operator.sub, operator.mul, operator.floordiv,
    operator.truediv, operator.mod, operator.pow, operator.neg, operator.pos, operator.abs, operator.eq, operator.ne,
    operator.lt, operator.le, operator.gt, operator.ge, operator.and_, operator.or_, operator.not_})
_SIZE_METHODS = frozenset({"size", "stride", "dim", "numel", "storage_offset"})


def is_size_arithmetic(node: fx.Node) -> bool:
    """Arithmetic on sizes (no tensor in, a number out): free of side effects, removable when unused."""
    if not isinstance(node.meta.get("example_value"), (torch.SymInt, torch.SymFloat, torch.SymBool, int, float, bool)):
        return False
    if node.op == "call_method":
        return node.target in _SIZE_METHODS
    if node.op != "call_function":
        return False
    if node.target in _TENSOR_SIZES:  # a size of a tensor
        return True
    return node.target in _SIZE_FUNCTIONS and not any(  # arithmetic on numbers (operator.add also adds tensors)
        isinstance(a.meta.get("example_value"), torch.Tensor) for a in node.all_input_nodes)


_ASSERTS = frozenset({torch.ops.aten._assert_scalar.default, torch._check, torch._check_is_size})


def _drop_asserts_on_dead_values(graph: fx.Graph) -> None:
    """A runtime assert Dynamo put on a size that only a removed region computed checks nothing any more: it
    goes (its size would otherwise keep the region alive). One whose sizes stay computed stays."""
    asserts = {n for n in graph.nodes if n.op == "call_function" and n.target in _ASSERTS}
    if not asserts:
        return
    roots = [n for n in graph.nodes if n.op == "output" or (n not in asserts and is_impure(n))]
    live: set[fx.Node] = set()
    while roots:
        node = roots.pop()
        if node not in live:
            live.add(node)
            roots.extend(node.all_input_nodes)
    for node in [n for n in graph.nodes if n in asserts]:  # graph order: deterministic variants
        if any(source not in live for source in _size_sources(node)):
            graph.erase_node(node)


def _size_sources(node: fx.Node) -> set[fx.Node]:
    """The values an assert's sizes come from: its inputs, followed back through size arithmetic (a tensor's
    size to the tensor)."""
    found, todo, seen = set(), list(node.all_input_nodes), set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if is_size_arithmetic(current):
            todo.extend(current.all_input_nodes)
        else:
            found.add(current)
    return found


def eliminate_dead_code(graph: fx.Graph) -> None:
    """FX's dead-code elimination with `is_impure`, plus dead in-place writes into fresh tensors.

    # NOTE [Dead writes into fresh tensors]
    Eager code often fills or patches a tensor it just made, in place: Wan's RoPE writes into
    `torch.empty_like(x)`, CogView4's attention does `query[:, :, text:] = rope(query[:, :, text:])`. Each
    write is impure, so `is_impure` keeps it -- and with it the whole block or attention whose result was
    replaced by a cache read. A write is dead when the storage it writes into is made inside the graph (no
    graph input shares it) and every read of that storage, through any tensor that shares it, only feeds
    writes into the same storage: then the writes go, and ordinary DCE removes the rest. Which tensors share
    a storage is read from the FakeTensors Dynamo recorded (`meta["example_value"]`), not guessed from op
    names: `.data`, views and `.to` that return self all share it there (CogVideoX fills
    `joint_pos_embedding.data[:, n:]` and reads `joint_pos_embedding` afterwards: that write stays)."""
    _drop_asserts_on_dead_values(graph)
    while True:
        graph.eliminate_dead_code(is_impure_node=is_impure)
        dead = _dead_writes(graph)
        if not dead:
            return
        for node in reversed(list(graph.nodes)):  # users before what they use
            if node in dead:
                graph.erase_node(node)


def _storage(node: fx.Node) -> Any:
    value = node.meta.get("example_value")
    if not isinstance(value, torch.Tensor):
        return None
    try:
        from torch.multiprocessing.reductions import StorageWeakRef

        return StorageWeakRef(value.untyped_storage())
    except Exception:  # a tensor without a storage (sparse, nested): never treated as removable
        return None


def _dead_writes(graph: fx.Graph) -> set[fx.Node]:
    families: dict[Any, list[fx.Node]] = {}
    for node in graph.nodes:
        storage = _storage(node)
        if storage is not None:
            families.setdefault(storage, []).append(node)
    writes: dict[Any, set[fx.Node]] = {}  # setitem has no tensor value: group writes by their target's storage
    for node in graph.nodes:
        if _is_write(node) and not node.users and node.args and isinstance(node.args[0], fx.Node):
            storage = _storage(node.args[0])
            if storage is not None:
                writes.setdefault(storage, set()).add(node)
    dead: set[fx.Node] = set()
    for storage, into in writes.items():
        members = families.get(storage, [])
        if all(n.op not in ("placeholder", "get_attr") for n in members) and _only_feeds(set(members), into):
            dead |= into
    return dead


def _only_feeds(family: set[fx.Node], writes: set[fx.Node]) -> bool:
    """Whether every other user of the storage's tensors (`family`) only feeds the `writes` into it."""
    memo: dict[fx.Node, bool] = {}

    def feeds(node: fx.Node, depth: int = 0) -> bool:
        if node in writes or node in family:
            return True
        if node in memo:
            return memo[node]
        memo[node] = False
        if depth > 200 or node.op == "output" or (is_impure(node) and not _is_write(node)):
            return False
        memo[node] = bool(node.users) and all(feeds(user, depth + 1) for user in node.users)
        return memo[node]

    for member in family:
        for user in member.users:
            if user in family or user in writes:
                continue
            if _is_write(user) or not feeds(user):
                return False
    return True


def _is_write(node: fx.Node) -> bool:
    target = node.target
    if node.op == "call_function" and target is operator.setitem:
        return True
    if isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable:
        return True
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    return node.op in ("call_method", "call_function") and name.endswith("_") and not name.endswith("__")


def _is_tensor_value(value: object) -> bool:
    if isinstance(value, (tuple, list)):
        return len(value) > 0 and all(isinstance(v, torch.Tensor) or v is None for v in value)
    return isinstance(value, torch.Tensor)


def insert_reads(graph: fx.Graph, nodes: dict[str, fx.Node], reads: tuple[CacheSlot, ...]) -> dict[str, fx.Node]:
    """A placeholder in place of each read slot's output node; returns output node name -> placeholder."""
    last_placeholder = list(graph.find_nodes(op="placeholder"))[-1]
    made = {}
    for slot in reads:
        with located(module=slot.site, node=slot.node):
            original = nodes[slot.node]
            with graph.inserting_after(last_placeholder):
                placeholder = graph.placeholder(slot.read_name)
            placeholder.meta["example_value"] = read_example(original.meta["example_value"])
            original.replace_all_uses_with(placeholder)
            last_placeholder = made[slot.node] = placeholder
    return made


def rebuild_sizes(graph: fx.Graph, nodes: dict[str, fx.Node], sites: list[AttentionSite],
                  replaced: dict[str, fx.Node]) -> None:
    """Rebuild the symbolic sizes the reused `sites` hand on (NOTE [Symbolic sizes a region hands on], compiler/regions.py)
    from the values that replace their outputs (`replaced`: output name -> node) and values before them."""
    for site in sites:
        for size in site.rebuilt:
            with located(module=site.name, node=size.node):
                original = nodes[size.node]
                with graph.inserting_before(original):
                    value = _materialize(graph, original.meta["example_value"].node.expr,
                                         {symbol: (replaced.get(source) or nodes[source], dim)
                                          for symbol, source, dim in size.sources})
                original.replace_all_uses_with(value)


def _materialize(graph: fx.Graph, expr: Any, sources: dict[str, tuple[fx.Node, int | None]]) -> Any:
    """FX nodes computing a sum of products of symbols and integers."""
    import sympy

    if isinstance(expr, sympy.Integer):
        return int(expr)
    if isinstance(expr, sympy.Symbol):
        node, dim = sources[str(expr)]
        if dim is None:
            return node
        size = graph.call_function(torch.ops.aten.sym_size.int, (node, dim))
        size.meta["example_value"] = node.meta["example_value"].shape[dim]
        return size
    combine = operator.add if isinstance(expr, sympy.Add) else operator.mul
    value = None
    for arg in expr.args:
        term = _materialize(graph, arg, sources)
        if value is None:
            value = term
            continue
        node = graph.call_function(combine, (value, term))
        node.meta["example_value"] = combine(_example(value), _example(term))
        value = node
    return value


def _example(value: Any) -> Any:
    return value.meta["example_value"] if isinstance(value, fx.Node) else value


def append_writes(graph: fx.Graph, nodes: dict[str, fx.Node], writes: tuple[CacheSlot, ...]) -> None:
    output = graph.output_node()
    results = output.args[0]
    results = tuple(results) if isinstance(results, (tuple, list)) else (results,)
    written = []
    for slot in writes:
        with located(module=slot.site, node=slot.node):
            node = nodes[slot.node]
            value = node.meta["example_value"]
            if read_example(value) is not value:  # stored contiguous: see read_example
                with graph.inserting_after(node):
                    node = graph.call_method("contiguous", (node,))
                node.meta["example_value"] = read_example(value)
            node._rename(slot.write_name)
            written.append(node)
    output.args = (results + tuple(written),)


def read_example(value: Any) -> Any:
    """The FakeTensor a cache read placeholder gets: the output's own, unless its strides use sizes its shape
    does not (a slice of a tensor whose length was read from data: Framepack's text). A graph binds sizes from
    its inputs' shapes, so such a tensor is stored and read contiguous."""
    if not isinstance(value, torch.Tensor):
        return value
    shape_symbols = set().union(*(s.node.expr.free_symbols for s in value.shape if isinstance(s, torch.SymInt)))
    stride_symbols = set().union(*(s.node.expr.free_symbols for s in value.stride() if isinstance(s, torch.SymInt)))
    if stride_symbols <= shape_symbols:
        return value
    with value.fake_mode:
        return torch.empty(value.shape, dtype=value.dtype, device=value.device)


def check_attention_removed(graph: fx.Graph, reused: Iterable[AttentionSite], variant: str) -> None:
    """Warn when a reused site's attention kernel survived dead-code elimination (another value depends on it)."""
    remaining = {node.name for node in graph.nodes}
    for site in reused:
        alive = [name for name in site.attention_calls if name in remaining]
        if alive:
            logger.warning("cachepass rewrite: attention %s of %s is still computed in variant %s although its "
                           "outputs are read from the cache (another value depends on it)", alive, site.name, variant)
