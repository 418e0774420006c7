"""TaylorSeer stage 4, rewrite: compute variants that update the Taylor factors, predict variants that
replace the selected modules by their Taylor series.

- `compute-o<k>` (k previous orders read): the graph as captured; for every output `y` of an active module,
  `cache_write__<site>__<i>__o0 = y` and, for j < k, `o<j+1> = (o<j> - cache_read__<site>__<i>__o<j>) /
  ts_delta` (diffusers' `TaylorSeerState.update`), each cast to `taylor_factors_dtype` and made contiguous
  (NOTE [Factors are stored contiguous]);
- `predict-o<m>`: every output of an active module becomes `0 + sum_j o<j> * ts_coefficients[j]`
  (`offset^j / j!`, a tensor input: new values never recompile), every output of an inactive module
  `zeros` of its recorded shape; the modules' regions are dead code, removed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, copy_graph, eliminate_dead_code
from ...integrations.dynamo_meta import variant_module
from .plan import variant_name
from .tag import TSTags


@dataclass(frozen=True)
class TSVariant:
    key: tuple[str, int]
    gm: fx.GraphModule
    reads: tuple[tuple[CacheSlot, int], ...]  # (output, order) read, in placeholder order
    writes: tuple[tuple[CacheSlot, int], ...]  # (output, order) written, after the graph's outputs
    example_inputs: tuple[Any, ...]
    extra: str | None  # "delta" or "coefficients": the per-step tensor input before the reads

    @property
    def name(self) -> str:
        return variant_name(self.key)


def slots(tags: TSTags) -> tuple[CacheSlot, ...]:
    return tuple(CacheSlot(site.name, "taylor", i, node, spec) for site in tags.active
                 for i, (node, spec) in enumerate(zip(site.outputs, site.output_specs)))


def build_ts_variant(captured: CapturedGraph, tags: TSTags, key: tuple[str, int], factors_dtype: Any) -> TSVariant:
    graph = copy_graph(captured.gm.graph)
    nodes = {n.name: n for n in graph.nodes}
    kind, orders = key
    last = list(graph.find_nodes(op="placeholder"))[-1]
    extras: list[Any] = []

    def placeholder(name: str, example: Any) -> fx.Node:
        nonlocal last
        with graph.inserting_after(last):
            node = graph.placeholder(name)
        node.meta["example_value"] = example
        extras.append(example)
        last = node
        return node

    reads = tuple((slot, j) for slot in slots(tags) for j in range(orders))
    extra = None
    if orders and kind == "compute":
        extra, scalar = "delta", placeholder("ts_delta", _scalar(captured))
    elif kind == "predict":
        extra, scalar = "coefficients", placeholder("ts_coefficients", _vector(captured, orders))
    factor = {}
    for slot, j in reads:
        factor[(slot.ident, j)] = placeholder(f"cache_read__{slot.ident}__o{j}",
                                              _factor_example(nodes[slot.node].meta["example_value"], factors_dtype))
    writes: list[tuple[CacheSlot, int]] = []
    written: list[fx.Node] = []
    if kind == "compute":
        for slot in slots(tags):
            output = nodes[slot.node]
            with graph.inserting_before(graph.output_node()):
                new = [output]
                for j in range(orders):
                    previous = graph.call_method("to", (factor[(slot.ident, j)], output.meta["example_value"].dtype))
                    difference = graph.call_function(operator.sub, (new[j], previous))
                    new.append(graph.call_function(operator.truediv, (difference, scalar)))
                for j, value in enumerate(new):
                    cast = graph.call_method("to", (value, factors_dtype)) if factors_dtype is not None else value
                    written.append(graph.call_method("contiguous", (cast,)))
                    writes.append((slot, j))
        out = graph.output_node()
        results = out.args[0] if isinstance(out.args[0], (tuple, list)) else (out.args[0],)
        out.args = (tuple(results) + tuple(written),)
    else:
        _predict(graph, nodes, tags, factor, scalar, orders, last)
        eliminate_dead_code(graph)
    graph.lint()
    gm = variant_module(captured.gm, graph, f"TSVariant_{kind}_o{orders}")
    return TSVariant(key, gm, reads, tuple(writes), (*captured.example_inputs(), *extras), extra)


def _predict(graph: fx.Graph, nodes: dict[str, fx.Node], tags: TSTags, factor: dict, coefficients: fx.Node,
             orders: int, last: fx.Node) -> None:
    anchor = [last]

    def emit(op: str, target: Any, args: tuple, kwargs: dict | None = None) -> fx.Node:
        with graph.inserting_after(anchor[0]):
            node = graph.create_node(op, target, args, kwargs or {})
        anchor[0] = node
        return node

    for site in tags.sites:
        for i, name in enumerate(site.outputs):
            original = nodes[name]
            value = original.meta["example_value"]
            if site.inactive:  # diffusers: zeros of the recorded shape, dtype and device
                new = emit("call_function", torch.zeros, (tuple(int(d) for d in value.shape),),
                           {"dtype": value.dtype, "device": value.device})
            else:  # diffusers' predict(): zeros_like(o0) + sum_j o_j.to(dtype) * coefficient_j, in that order
                ident = CacheSlot(site.name, "taylor", i, name, None).ident
                new = emit("call_function", torch.zeros_like, (factor[(ident, 0)],), {"dtype": value.dtype})
                for j in range(orders):
                    term = emit("call_method", "to", (factor[(ident, j)], value.dtype))
                    coefficient = emit("call_function", operator.getitem, (coefficients, j))
                    term = emit("call_function", operator.mul, (term, coefficient))
                    new = emit("call_function", operator.add, (new, term))
            original.replace_all_uses_with(new)


# NOTE [Factors are stored contiguous]
# A module's output can be a view with the strides of a larger tensor: CogVideoX's attention returns its text
# and video streams as slices of one projected tensor. Order 0 is that output, the higher orders are computed
# from it (contiguous), and a predict or update variant compiled for the output's own strides met contiguous
# factors: with a batch of 2 or more (a batch of 1 has no batch stride to check) Inductor's stride assert
# failed at the first step that read them. Every factor is written contiguous (a copy only for a view) and
# every read placeholder expects it so.
def _factor_example(value: Any, factors_dtype: Any) -> Any:
    """The FakeTensor of a factor read: the output's shape, the factors' dtype, contiguous."""
    with value.fake_mode:
        return torch.empty(value.shape, dtype=factors_dtype or value.dtype, device=value.device)


def _scalar(captured: CapturedGraph) -> Any:
    return _fake(captured, ())


def _vector(captured: CapturedGraph, length: int) -> Any:
    return _fake(captured, (length,))


def _fake(captured: CapturedGraph, shape: tuple[int, ...]) -> Any:
    """A fake float32 tensor of `shape` on the graph's device, in the graph's fake mode."""
    example = next(e for e in captured.example_inputs() if isinstance(e, torch.Tensor))
    with example.fake_mode:
        return torch.empty(shape, dtype=torch.float32, device=example.device)
