"""SeaCache stage 4, rewrite: the probe pieces that compute the indicator, and the variants of the model.

Probe (`indicator`; `indicator+distance` also reads the previous step's indicators), only the ops diffusers'
`_apply_sea_filter` runs, on the model's 5-D `hidden_states` input, one latent per batch element::

    def forward(<graph inputs>, sea_coef, [cache_read__sea_indicator__0, ...]):
        h = hidden_states[j].movedim(0, -1).contiguous().float()         # (T, H, W, C)
        gain = prod over T, H, W of sea_coef[0] * P / (sea_coef[1] * P + sea_coef[2] + 1e-16),
               P = 1 / (|fftfreq|^power_exp + 1e-16);   gain /= gain.mean() (when finite and > 0)
        indicator_j = ifftn(fftn(h) * gain).real.to(hidden_states.dtype)
        distance_j = mean|indicator_j - previous_j| / (mean|previous_j| + 1e-16)
        return (*indicators, stack(distances))

`sea_coef` = float32 [1 - s, (1 - s)^2, s^2] of the step's clamped sigma s, computed on the host in Python
floats as the hook computes its scalars (a graph input: the graph does not change with sigma).

Variants of the model (the block stack found by compiler/blocks.py):

- `compute`: the graph as captured, plus `cache_write__sea_residual__0 = last block's hidden states - first
  block's hidden-states input` and, for every other stream used after the stack, its last value
  (`cache_write__sea_stream__<i>`): diffusers' tail hook records the same (`und_output`);
- `skip`: every block is dead code; after the stack the hidden states are `input + cache_read__sea_residual__0`
  and every other stream is its cached last value, as diffusers' leader hook returns them;
- `skip+extrapolate`: the residual is `latest + (latest - previous) * sea_scale`, the hook's order-1
  extrapolation, with the step scale a 0-d float32 graph input.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx

from ...compiler.blocks import BlockStack, check_blocks_removed, copy_skipping_stack, skipped_stream_values
from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, KeyedVariant, eliminate_dead_code
from ...compiler.lower import PLACED_COMPLEX
from ...integrations.dynamo_meta import variant_module
from .plan import Probe, Variant

COEF, SCALE = "sea_coef", "sea_scale"
INDICATOR = "sea_indicator"  # the store key of the previous step's indicators


@dataclass(frozen=True)
class SeaPiece(KeyedVariant):
    key: str  # a Probe or a Variant
    num_outputs: int  # the model's outputs (variants) or the indicators (probes), before the rest
    scale: bool = False  # takes `sea_scale` after the cache reads
    nodes_removed: int = 0


def residual_slots(stack: BlockStack) -> tuple[CacheSlot, CacheSlot]:
    """(the latest computed step's residual, the one before it)."""
    stream = stack.hidden_stream
    return (CacheSlot("sea_residual", "residual", 0, stream.last, stream.spec),
            CacheSlot("sea_residual_previous", "residual", 0, stream.last, stream.spec))


def stream_slots(stack: BlockStack) -> tuple[CacheSlot, ...]:
    """The last value of every other stream used after the stack (the hook's cached `und_output`)."""
    return tuple(CacheSlot("sea_stream", "stream", i, stack.streams[i].last, stack.streams[i].spec)
                 for i in stack.cached_streams if i != stack.hidden)


# -- the probe ------------------------------------------------------------------------------------

def build_probe(captured: CapturedGraph, latent: int, key: Probe, power_exp: float) -> SeaPiece:
    source = captured.gm.graph
    graph = fx.Graph()
    placeholders = [graph.node_copy(node) for node in source.find_nodes(op="placeholder")]
    example = placeholders[latent].meta["example_value"]
    batch = int(example.shape[0])
    fake = example.fake_mode
    with fake:
        coef_example = torch.empty((3,), dtype=torch.float32, device=example.device)
        indicator_example = torch.empty((*example.shape[2:], example.shape[1]), dtype=example.dtype,
                                        device=example.device)
    tracer = fx.proxy.GraphAppendingTracer(graph)
    coef = _placeholder(graph, COEF, coef_example)
    previous = [_placeholder(graph, f"cache_read__{INDICATOR}__{j}", indicator_example)
                for j in range(batch)] if key == "indicator+distance" else []
    hidden = fx.Proxy(placeholders[latent], tracer)
    coef = fx.Proxy(coef, tracer)
    indicators = [_sea_filter(graph, tracer, hidden[j], coef, power_exp, example) for j in range(batch)]
    outputs = [i.contiguous().node for i in indicators]
    if previous:
        distances = [_distance(current, fx.Proxy(p, tracer)) for current, p in zip(indicators, previous)]
        outputs.append(torch.stack(distances).node)
    graph.output(tuple(outputs))
    for node in graph.nodes:  # complex math cachepass chose to run in the graph (lower.py's NOTE)
        if node.op == "call_function" or node.op == "call_method":
            node.meta[PLACED_COMPLEX] = True
    graph.lint()
    gm = variant_module(captured.gm, graph, f"SeaProbe_{key.replace('+', '_')}")
    inputs = (*captured.example_inputs(), coef_example, *([indicator_example] * len(previous)))
    return SeaPiece(key, gm, (), (), inputs, batch)


def _placeholder(graph: fx.Graph, name: str, example: torch.Tensor) -> fx.Node:
    node = graph.placeholder(name)
    node.meta["example_value"] = example
    return node


def _sea_filter(graph: fx.Graph, tracer: fx.Tracer, latent: fx.Proxy, coef: fx.Proxy, power_exp: float,
                example: torch.Tensor) -> fx.Proxy:
    """diffusers' `_apply_sea_filter(latent.movedim(0, -1), sigma, power_exp)`, op for op."""
    hidden = latent.movedim(0, -1).contiguous().float()
    dimensions = (0, 1, 2)
    spectrum = torch.fft.fftn(hidden, dim=dimensions)
    gain = None
    for axis, size in zip(dimensions, example.shape[2:]):
        frequencies = fx.Proxy(graph.call_function(torch.fft.fftfreq, (size,), {
            "device": example.device, "dtype": torch.float32}), tracer)
        clean_power = 1.0 / (frequencies.abs().pow(power_exp) + 1e-16)
        axis_gain = coef[0] * clean_power / (coef[1] * clean_power + coef[2] + 1e-16)
        axis_shape = [1] * 4
        axis_shape[axis] = size
        gain = axis_gain.reshape(axis_shape) if gain is None else gain * axis_gain.reshape(axis_shape)
    mean_gain = gain.mean()
    # the hook's `if torch.isfinite(mean_gain) and mean_gain > 0: gain = gain / mean_gain`, without a host read
    gain = torch.where(torch.isfinite(mean_gain) & (mean_gain > 0), gain / mean_gain, gain)
    return torch.fft.ifftn(spectrum * gain, dim=dimensions).real.to(example.dtype)


def _distance(current: fx.Proxy, previous: fx.Proxy) -> fx.Proxy:
    """The hook's `(cur.float() - prev.float()).abs().mean() / (prev.float().abs().mean() + 1e-16)`."""
    numerator = (current.float() - previous.float()).abs().mean()
    denominator = previous.float().abs().mean() + 1e-16
    return numerator / denominator


# -- the variants of the model --------------------------------------------------------------------

def build_variant(captured: CapturedGraph, stack: BlockStack, key: Variant) -> SeaPiece:
    source = captured.gm.graph
    nodes = {n.name: n for n in source.nodes}
    graph, env = fx.Graph(), {}
    for node in source.find_nodes(op="placeholder"):
        env[node] = graph.node_copy(node)
    latest, previous = residual_slots(stack)
    others = stream_slots(stack)
    reads: tuple[CacheSlot, ...] = ()
    if key != "compute":
        reads = (latest, *others) + ((previous,) if key == "skip+extrapolate" else ())
    read = {slot.ident: _placeholder(graph, slot.read_name, nodes[slot.node].meta["example_value"]) for slot in reads}
    scale = None
    if key == "skip+extrapolate":
        example = nodes[latest.node].meta["example_value"]
        with example.fake_mode:
            scale = _placeholder(graph, SCALE, torch.empty((), dtype=torch.float32, device=example.device))
    skip = (lambda: _skip_values(graph, stack, env, nodes, read, scale)) if key != "compute" else None
    results = copy_skipping_stack(source, graph, env, stack, skip)
    output = source.output_node()
    writes: tuple[CacheSlot, ...] = ()
    extra = []
    if key == "compute":
        residual = graph.call_function(operator.sub, (env[nodes[stack.hidden_stream.last]], env[nodes[stack.head_input]]))
        residual.name = latest.write_name
        extra = [residual, *(env[nodes[slot.node]] for slot in others)]
        writes = (latest, *others)
    graph.output((*results, *extra), type_expr=output.type)
    before = len(graph.nodes)
    if key != "compute":
        eliminate_dead_code(graph)
        check_blocks_removed(graph, stack, f"SeaCache's {key} variant", stack.blocks)
    graph.lint()
    gm = variant_module(captured.gm, graph, f"SeaVariant_{key.replace('+', '_')}")
    example = (*captured.example_inputs(), *(read[s.ident].meta["example_value"] for s in reads),
               *([scale.meta["example_value"]] if scale is not None else []))
    return SeaPiece(key, gm, reads, writes, example, len(results), scale is not None, before - len(graph.nodes))


def _skip_values(graph: fx.Graph, stack: BlockStack, env: dict, nodes: dict[str, fx.Node], read: dict[str, fx.Node],
                 scale: fx.Node | None) -> dict[str, fx.Node]:
    """Stream value -> what a reuse step gives it: hidden = input + residual, the other streams their cached last
    value (the hook's `cached_und`), or their input when not used after the stack."""
    latest, previous = residual_slots(stack)
    residual = read[latest.ident]
    if scale is not None:  # the hook: latest + (latest - previous) * step_scale
        change = graph.call_function(operator.sub, (residual, read[previous.ident]))
        change.name = "sea_residual_change"  # names of their own: the block check compares names
        scaled = graph.call_function(operator.mul, (change, scale))
        scaled.name = "sea_scaled_change"
        residual = graph.call_function(operator.add, (residual, scaled))
        residual.name = "sea_extrapolated"
    hidden = graph.call_function(operator.add, (env[nodes[stack.head_input]], residual))
    hidden.name = "sea_skip__hidden"
    cached = {slot.index: read[slot.ident] for slot in stream_slots(stack)}
    return skipped_stream_values(graph, stack, env, hidden, cached, "SeaCache")
