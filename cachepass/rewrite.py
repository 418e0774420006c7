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
from typing import Any

import torch
from torch import fx

from .capture import CapturedGraph
from .config import Kind
from .errors import located
from .plan import VariantKey, variant_name
from .tag import AttentionSite, TagResult, TensorSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheSlot:
    """One cached tensor: output `index` of attention site `site`."""

    site: str
    kind: Kind
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


@dataclass(frozen=True)
class Variant:
    key: VariantKey  # the kinds read from the cache
    gm: fx.GraphModule
    reads: tuple[CacheSlot, ...]  # extra placeholders, after the original inputs
    writes: tuple[CacheSlot, ...]  # extra outputs, after the original outputs
    example_inputs: tuple[Any, ...]  # fake values for every placeholder
    nodes_removed: int  # graph nodes eliminated by reading the cache

    @property
    def name(self) -> str:
        return variant_name(self.key)


def cache_slots(sites: tuple[AttentionSite, ...]) -> dict[str, tuple[CacheSlot, ...]]:
    """The slots of every cached site, by site name."""
    return {
        site.name: tuple(CacheSlot(site.name, site.cache_kind, i, node, spec)
                         for i, (node, spec) in enumerate(zip(site.outputs, site.output_specs)))
        for site in sites if site.cached
    }


def build_variant(captured: CapturedGraph, tags: TagResult, reuse: VariantKey) -> Variant:
    graph = _copy(captured.gm.graph)
    nodes = {node.name: node for node in graph.nodes}
    slots = cache_slots(tags.sites)
    reads = tuple(s for site in tags.cached_sites if site.cache_kind in reuse for s in slots[site.name])
    writes = tuple(s for site in tags.cached_sites if site.cache_kind not in reuse for s in slots[site.name])

    _insert_reads(graph, nodes, reads)
    _append_writes(graph, nodes, writes)
    before = len(graph.nodes)
    eliminate_dead_code(graph)
    graph.lint()
    _check_attention_removed(graph, tags, reuse)

    gm = fx.GraphModule(captured.gm, graph, class_name=f"Variant_{variant_name(reuse).replace('-', '_')}")
    example_inputs = (*captured.example_inputs(), *(nodes[s.node].meta["example_value"] for s in reads))
    variant = Variant(reuse, gm, reads, writes, example_inputs, before - len(graph.nodes))
    logger.debug("rewrite: variant %s reads %d and writes %d cache tensors, removed %d nodes",
                 variant.name, len(reads), len(writes), variant.nodes_removed)
    return variant


def _copy(source: fx.Graph) -> fx.Graph:
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
    nodes whose value is a tensor or a tuple of tensors, not produced in place -- may be removed."""
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


_FACTORIES = (torch.empty_like, torch.zeros_like, torch.ones_like, torch.full_like, torch.empty, torch.zeros, torch.ones,
              torch.full, torch.clone)
_FACTORY_METHODS = ("new_empty", "new_zeros", "new_ones", "new_full", "clone")
_VIEW_METHODS = ("view", "reshape", "unflatten", "flatten", "transpose", "permute", "unsqueeze", "squeeze", "narrow",
                 "select", "expand", "view_as", "__getitem__")


def eliminate_dead_code(graph: fx.Graph) -> None:
    """FX's dead-code elimination with `is_impure`, plus dead scratch tensors.

    # NOTE [Dead writes into scratch tensors]
    Eager code often fills a fresh tensor in place (Wan's RoPE: `out = torch.empty_like(x); out[..., 0::2] = ...`).
    Each `setitem` is an in-place write, so `is_impure` keeps it -- and with it the whole block or attention
    whose result was replaced by a cache read. A write is dead when the tensor it writes was allocated in the
    graph (a factory or `clone`, never an input or a view of one) and nothing else ever reads that tensor or its
    views: then the allocation, its views and its writes go together."""
    while True:
        graph.eliminate_dead_code(is_impure_node=is_impure)
        dead: set[fx.Node] = set()
        for node in graph.nodes:
            if node not in dead:
                dead |= _dead_scratch(node) or set()
        if not dead:
            return
        for node in reversed(list(graph.nodes)):  # users before what they use
            if node in dead:
                graph.erase_node(node)


def _dead_scratch(base: fx.Node) -> set[fx.Node] | None:
    is_factory = ((base.op == "call_function" and base.target in _FACTORIES)
                  or (base.op == "call_method" and base.target in _FACTORY_METHODS))
    if not is_factory or not base.users:
        return None
    family, todo = {base}, [base]
    while todo:
        node = todo.pop()
        for user in node.users:
            if user in family:
                continue
            if not user.args or user.args[0] is not node:
                return None  # the tensor is read as another argument
            if _is_write(user):
                if user.users:
                    return None  # the in-place result is used
                family.add(user)
            elif _is_view(user):
                family.add(user)
                todo.append(user)
            else:
                return None  # something reads the tensor
    return family


def _is_write(node: fx.Node) -> bool:
    target = node.target
    if node.op == "call_function" and target is operator.setitem:
        return True
    if isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable:
        return True
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    return node.op in ("call_method", "call_function") and name.endswith("_") and not name.endswith("__")


def _is_view(node: fx.Node) -> bool:
    return ((node.op == "call_function" and node.target is operator.getitem)
            or (node.op == "call_method" and node.target in _VIEW_METHODS))


def _is_tensor_value(value: object) -> bool:
    if isinstance(value, (tuple, list)):
        return len(value) > 0 and all(isinstance(v, torch.Tensor) or v is None for v in value)
    return isinstance(value, torch.Tensor)


def _insert_reads(graph: fx.Graph, nodes: dict[str, fx.Node], reads: tuple[CacheSlot, ...]) -> None:
    last_placeholder = list(graph.find_nodes(op="placeholder"))[-1]
    for slot in reads:
        with located(module=slot.site, node=slot.node):
            original = nodes[slot.node]
            with graph.inserting_after(last_placeholder):
                placeholder = graph.placeholder(slot.read_name)
            placeholder.meta["example_value"] = original.meta["example_value"]
            original.replace_all_uses_with(placeholder)
            last_placeholder = placeholder


def _append_writes(graph: fx.Graph, nodes: dict[str, fx.Node], writes: tuple[CacheSlot, ...]) -> None:
    output = graph.output_node()
    results = output.args[0]
    results = tuple(results) if isinstance(results, (tuple, list)) else (results,)
    for slot in writes:
        with located(module=slot.site, node=slot.node):
            nodes[slot.node]._rename(slot.write_name)
    output.args = (results + tuple(nodes[s.node] for s in writes),)


def _check_attention_removed(graph: fx.Graph, tags: TagResult, reuse: VariantKey) -> None:
    remaining = {node.name for node in graph.nodes}
    for site in tags.cached_sites:
        if site.cache_kind in reuse:
            alive = [name for name in site.attention_calls if name in remaining]
            if alive:
                logger.warning("cachepass rewrite: attention %s of %s is still computed in variant %s although its "
                               "outputs are read from the cache (another value depends on it)",
                               alive, site.name, variant_name(reuse))

