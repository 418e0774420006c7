"""FasterCache stage 4, rewrite: one graph per variant, with every cache point an explicit input or output.

A variant is a copy of the full- or half-batch graph; it keeps the graph's inputs first, then appends,
in this order:

- extrapolation (kinds in `key.extrapolate`): one input `fc_weights` (fp32, one weight per extrapolated
  output) and, per output of an extrapolated site, `cache_read__<site>__<i>__t2` and `..__t`. Right after
  the site's output node it computes `t + (t - t2) * fc_weights[k]` and uses that instead; the attention
  region is then dead and removed;
- the unconditional estimate (half graph, `estimate="graph"`): inputs `fc_R_low`, `fc_R_high` (fp32,
  the conditional output's shape) and `fc_alpha` (fp32, 2); the prediction output becomes
  `cat([(c.float() + fc_alpha[0] * fc_R_low + fc_alpha[1] * fc_R_high).to(c.dtype), c])`;
- the frequency deltas (full graph, `deltas="graph"`): input `fc_lowpass_mask`; two more outputs
  `fc_write_R_low = irfft2(rfft2(u - c) * mask)` and `fc_write_R_high = (u - c) - fc_write_R_low`.

Every cached site output (computed or extrapolated) is returned as `cache_write__<site>__<i>` after
the original outputs. A full-batch variant that batched CFG runs (`halves`) also returns each write's
conditional half as a contiguous copy, `cache_write_cond__<site>__<i>`, after the writes: the block cache
keeps only that half (NOTE [The conditional half, copied in the graph]). Before (CogVideoX's half graph), after (`half+extrapolate-spatial`)::

    attn_output = ...linear(...)                                    # transformer_blocks.0.attn1
    hidden_states_3 = hidden_states_2 + gate * attn_output

    getitem = fc_weights[0]
    sub = cache_read__transformer_blocks_0_attn1__0__t - cache_read__transformer_blocks_0_attn1__0__t2
    cache_write__transformer_blocks_0_attn1__0 = cache_read__..__0__t + sub * getitem
    hidden_states_3 = hidden_states_2 + gate * cache_write__transformer_blocks_0_attn1__0
    ...
    return (fc_cfg_output, cache_write__transformer_blocks_0_attn1__0, ...)

The callbacks' values never become constants: weights and alphas are tensor inputs, so one compiled
variant serves every step.
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, check_attention_removed, copy_graph, eliminate_dead_code
from ...compiler.lower import PLACED_COMPLEX
from ...errors import located
from ...integrations.dynamo_meta import variant_module
from .plan import VariantKey
from .tag import FCTags

logger = logging.getLogger(__name__)

WEIGHTS, R_LOW, R_HIGH, ALPHA, MASK = "fc_weights", "fc_R_low", "fc_R_high", "fc_alpha", "fc_lowpass_mask"


@dataclass(frozen=True)
class FCVariant:
    key: VariantKey
    gm: fx.GraphModule
    reads: tuple[CacheSlot, ...]  # extrapolated slots; each reads (t2, t)
    writes: tuple[CacheSlot, ...]  # every cached slot, as outputs after the original ones
    extra_inputs: tuple[str, ...]  # placeholder names after the original inputs, in order
    estimate: bool  # the prediction output is already cat([estimated uncond, cond])
    deltas: bool  # R_low, R_high are the last two outputs
    halves: bool  # each write's conditional half follows the writes, as a copy of its own
    example_inputs: tuple[Any, ...]
    nodes_removed: int

    @property
    def name(self) -> str:
        return self.key.name


# NOTE [The conditional half, copied in the graph]
# After a batched full step, the block cache keeps the conditional half of each cached attention output
# (what the half-batch steps read), copied, so that the cache does not keep the 2B output alive (diffusers
# keeps a view: twice the memory). Copied beside the graph, that was one eager `clone` per cached output
# and step (about 20 us each on CPU: most of the runtime's own time on full steps); copied in the graph, it
# is one more store in Inductor's code. The full writes stay outputs too: the first call of a generation
# whose CFG calls are still unknown (cfg_calls="auto") keeps them in case the calls turn out sequential,
# and a copy whose source is also a graph output is one Inductor never folds back into a view
# (post_grad.remove_noop_ops keeps it: the view would alias two outputs).
def build_fc_variant(captured: CapturedGraph, tags: FCTags, key: VariantKey, output_index: int,
                     estimate: bool, deltas: bool, halves: bool = False) -> FCVariant:
    graph = copy_graph(captured.gm.graph)
    nodes = {node.name: node for node in graph.nodes}
    fake = _FakeFactory(captured)
    examples = list(captured.example_inputs())
    cursor = _Placeholders(graph, examples)
    reads = tuple(s for s in tags.slots if s.kind in key.extrapolate)
    written = _extrapolate(graph, nodes, reads, cursor, fake)
    writes = tags.slots
    outputs = _outputs(graph)
    prediction = outputs[output_index]
    if estimate:
        outputs[output_index] = _estimate(graph, prediction, cursor, fake)
    extra_outputs = [written.get(slot.ident, nodes[slot.node]) for slot in writes]
    for slot, node in zip(writes, extra_outputs):
        with located(module=slot.site, node=slot.node):
            node._rename(slot.write_name)
    if halves:
        extra_outputs += _conditional_halves(graph, writes, extra_outputs)
    if deltas:
        extra_outputs += _deltas(graph, prediction, cursor, fake)
    graph.output_node().args = (tuple(outputs) + tuple(extra_outputs),)
    before = len(graph.nodes)
    eliminate_dead_code(graph)
    check_attention_removed(graph, [s for s in tags.result.cached_sites if s.cache_kind in key.extrapolate], key.name)
    graph.lint()
    gm = variant_module(captured.gm, graph, f"FCVariant_{key.name.replace('+', '_').replace('-', '_')}")
    variant = FCVariant(key, gm, reads, writes, tuple(cursor.names), estimate, deltas, halves, tuple(examples),
                        before - len(graph.nodes))
    logger.debug("rewrite: variant %s extrapolates %d outputs, writes %d, estimate %s, deltas %s, removed %d nodes",
                 variant.name, len(reads), len(writes), estimate, deltas, variant.nodes_removed)
    return variant


class _FakeFactory:
    """Example values for new inputs, made in the graph's own FakeTensorMode (symbolic sizes stay shared)."""

    def __init__(self, captured: CapturedGraph) -> None:
        from torch._guards import detect_fake_mode

        self.mode = detect_fake_mode(captured.example_inputs())

    def empty(self, shape: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        with self.mode:
            return torch.empty(tuple(shape), dtype=dtype, device=device)  # contiguous: the runtime's contract


class _Placeholders:
    """Appends placeholders after the last one, in call order."""

    def __init__(self, graph: fx.Graph, examples: list[Any]) -> None:
        self.graph, self.examples, self.names = graph, examples, []
        self.last = list(graph.find_nodes(op="placeholder"))[-1]

    def add(self, name: str, example: Any) -> fx.Node:
        with self.graph.inserting_after(self.last):
            node = self.graph.placeholder(name)
        node.meta["example_value"] = example
        self.last = node
        self.examples.append(example)
        self.names.append(node.name)
        return node


def _extrapolate(graph: fx.Graph, nodes: dict[str, fx.Node], reads: tuple[CacheSlot, ...], cursor: _Placeholders,
                 fake: _FakeFactory) -> dict[str, fx.Node]:
    """`t + (t - t2) * w` in place of each read slot's output node; returns slot ident -> the new value."""
    if not reads:
        return {}
    first = nodes[reads[0].node].meta["example_value"]
    weights = cursor.add(WEIGHTS, fake.empty((len(reads),), torch.float32, first.device))
    made = {}
    for k, slot in enumerate(reads):
        with located(module=slot.site, node=slot.node):
            original = nodes[slot.node]
            value = original.meta["example_value"]
            t2 = cursor.add(f"{slot.read_name}__t2", fake.empty(value.shape, value.dtype, value.device))
            t = cursor.add(f"{slot.read_name}__t", fake.empty(value.shape, value.dtype, value.device))
            at = original  # insert in order after the output: consecutive inserting_after(x) would reverse it
            chain = []
            for target, args in ((operator.getitem, lambda: (weights, k)), (torch.sub, lambda: (t, t2)),
                                 (torch.mul, lambda: (chain[1], chain[0])), (torch.add, lambda: (t, chain[2]))):
                with graph.inserting_after(at):
                    at = graph.call_function(target, args())
                chain.append(at)
            at.meta["example_value"] = value
            original.replace_all_uses_with(at)
            made[slot.ident] = at
    return made


def _outputs(graph: fx.Graph) -> list[Any]:
    results = graph.output_node().args[0]
    return list(results) if isinstance(results, (tuple, list)) else [results]


def _estimate(graph: fx.Graph, cond: fx.Node, cursor: _Placeholders, fake: _FakeFactory) -> fx.Node:
    value = cond.meta["example_value"]
    r_low = cursor.add(R_LOW, fake.empty(value.shape, torch.float32, value.device))
    r_high = cursor.add(R_HIGH, fake.empty(value.shape, torch.float32, value.device))
    alpha = cursor.add(ALPHA, fake.empty((2,), torch.float32, value.device))
    with graph.inserting_before(graph.output_node()):
        low = graph.call_function(torch.mul, (r_low, graph.call_function(operator.getitem, (alpha, 0))))
        high = graph.call_function(torch.mul, (r_high, graph.call_function(operator.getitem, (alpha, 1))))
        uncond = graph.call_function(torch.add, (graph.call_function(torch.add, (
            graph.call_method("float", (cond,)), low)), high))
        uncond = graph.call_method("to", (uncond, value.dtype))
        uncond._rename("fc_estimate_uncond")
        output = graph.call_function(torch.cat, ([uncond, cond],), {"dim": 0})
        output._rename("fc_cfg_output")
    return output


def _conditional_halves(graph: fx.Graph, slots: tuple[CacheSlot, ...], writes: list[fx.Node]) -> list[fx.Node]:
    """`write[B:].clone()` for each write of batch 2B: the conditional half, in storage of its own."""
    halves = []
    for slot, write in zip(slots, writes):
        batch = write.meta["example_value"].shape[0]
        with graph.inserting_before(graph.output_node()):
            half = graph.call_function(torch.narrow, (write, 0, batch // 2, batch // 2))
            half = graph.call_function(torch.clone, (half,), {"memory_format": torch.contiguous_format})
        half._rename(slot.write_name.replace("cache_write__", "cache_write_cond__", 1))
        halves.append(half)
    return halves


def _deltas(graph: fx.Graph, prediction: fx.Node, cursor: _Placeholders, fake: _FakeFactory) -> list[fx.Node]:
    value = prediction.meta["example_value"]
    height, width = value.shape[-2], value.shape[-1]
    mask = cursor.add(MASK, fake.empty((height, width // 2 + 1), torch.float32, value.device))
    with graph.inserting_before(graph.output_node()):
        halves = graph.call_function(torch.chunk, (prediction, 2), {"dim": 0})
        uncond = graph.call_function(operator.getitem, (halves, 0))
        cond = graph.call_function(operator.getitem, (halves, 1))
        delta = graph.call_method("float", (graph.call_function(torch.sub, (uncond, cond)),))
        rfft = graph.call_function(torch.fft.rfft2, (delta,))
        spectrum = graph.call_function(torch.mul, (rfft, mask))
        r_low = graph.call_function(torch.fft.irfft2, (spectrum,), {"s": (height, width)})
        for node in (rfft, spectrum, r_low):  # complex math cachepass chose to run in the graph
            node.meta[PLACED_COMPLEX] = True
        r_low = graph.call_method("contiguous", (r_low,))
        r_low._rename("fc_write_R_low")
        r_high = graph.call_method("contiguous", (graph.call_function(torch.sub, (delta, r_low)),))
        r_high._rename("fc_write_R_high")
    return [r_low, r_high]
