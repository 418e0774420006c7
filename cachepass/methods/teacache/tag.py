"""TeaCache stage 2, tag: the block stack (the core's `tag_blocks`), the indicator node, and the cut before it.

The *indicator* is what the authors' scripts compare from step to step, found in the graph:

- "modulated": the first block's modulated input. The first direct submodule of block 0 that reads the
  hidden-states input (through casts) is its input norm (`norm1`: AdaLayerNormZero on Flux/HunyuanVideo,
  MochiRMSNormZero, a plain norm on LTX/Wan/Qwen-Image); its output of the hidden states' shape, followed
  through the elementwise modulation after it while that is its only use (`* (1 + scale) + shift`, casts).
- "timestep_embedding": the one input of block 0 that is derived from the model's `timestep` and is no
  stream (Wan's `timestep_proj` = the scripts' `e0`, CogVideoX's `emb`).

The *head* piece is the indicator and every node it needs (`nodes_needed`): it runs before the decision; the
rest of the graph is the tail, computed or skipped.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx

from ...compiler.blocks import Block, BlockGraphStreams, BlockStack, StackUser, nodes_needed, tag_block_graph, tag_blocks
from ...compiler.capture import CapturedGraph
from ...errors import ConfigError
from .config import TeaCacheConfig, TeaSettings, resolve

_CASTS = frozenset({"to", "float", "half", "bfloat16", "type_as", "contiguous"})
_ELEMENTWISE = frozenset({operator.mul, operator.add, operator.sub, torch.mul, torch.add, torch.sub})
_ELEMENTWISE_METHODS = frozenset({"mul", "add", "sub", "addcmul"}) | _CASTS


STACK_USER = StackUser("TeaCache", "TeaCacheConfig", "PAB, which caches attention layers", "the whole block stack")


@dataclass(frozen=True)
class TeaTags:
    stack: BlockStack
    settings: TeaSettings
    indicator: str  # the indicator's node name
    found_by: str  # how it was found, for the report
    head_nodes: frozenset[str]
    crossing: tuple[str, ...]  # head values the tail reads, graph order


def tag_teacache(captured: CapturedGraph, config: TeaCacheConfig) -> TeaTags:
    settings = resolve(config, captured.root() if captured.root is not None else None)  # before the graph work
    stack = tag_blocks(captured, config, STACK_USER)
    graph = captured.gm.graph
    nodes = {n.name: n for n in graph.nodes}
    if settings.indicator == "timestep_embedding":
        indicator, found_by = _timestep_embedding(captured, stack, nodes)
    else:
        indicator, found_by = _modulated_input(captured, stack.blocks[0], stack.head_input, nodes)
    later = set().union(*(b.region for b in stack.blocks))
    head = nodes_needed(graph, [nodes[indicator]], later - _ancestors_in(nodes[indicator], later))
    head |= _unpacked(head, nodes)
    crossing = tuple(n.name for n in graph.nodes if n.name in head and any(u.name not in head for u in n.users))
    return TeaTags(stack, settings, indicator, found_by, frozenset(head), crossing)


@dataclass(frozen=True)
class TeaBlockTags:
    """A graph of one block under TeaCache (regional.py): the model's stack and the block's streams, and in the
    graph of the stack's first block the indicator and the nodes it needs (its probe piece)."""

    streams: BlockGraphStreams
    settings: TeaSettings
    indicator: str  # "" in the graph of a block class that is not the first block's
    found_by: str
    head_nodes: frozenset[str]
    crossing: tuple[str, ...] = ()  # the probe piece hands nothing on: the head block runs whole on a compute step


def tag_tea_block_graph(captured: CapturedGraph, config: TeaCacheConfig) -> TeaBlockTags:
    """The block graph's streams (the core's `tag_block_graph`) and, where it holds the stack's first block, the
    modulated input of that block: the indicator, computed by the probe piece before the decision."""
    model = captured.model() if captured.model is not None else None
    settings = resolve(config, model)
    streams = tag_block_graph(captured, config, STACK_USER)
    if not streams.carried or model is None or type(model.get_submodule(streams.head)) is not streams.block_class:
        return TeaBlockTags(streams, settings, "", "", frozenset())
    if settings.indicator != "modulated":
        raise ConfigError(f"cachepass TeaCache: the {settings.indicator!r} indicator on a graph of one block "
                          f"({captured.prefix}: regional compilation) is not supported: the block cannot tell which "
                          f"input is the timestep embedding. Pass TeaCacheConfig(indicator='modulated') with "
                          f"coefficients fitted for it, or compile the whole transformer: torch.compile(transformer, "
                          f"backend='cachepass', fullgraph=True, options={{'cache': ...}}).")
    graph = captured.gm.graph
    nodes = {n.name: n for n in graph.nodes}
    region = tuple(n.name for n in graph.nodes if n.op not in ("placeholder", "output"))
    head_input = captured.placeholders()[streams.carried[streams.hidden]].name
    block = Block(captured.prefix, "", "", region, tuple(i.name for i in captured.inputs_with_role("input")), ())
    indicator, found_by = _modulated_input(captured, block, head_input, nodes)
    head = nodes_needed(graph, [nodes[indicator]], set())
    return TeaBlockTags(streams, settings, indicator, found_by, frozenset(head | _unpacked(head, nodes)))


def _unpacked(head: set[str], nodes: dict[str, fx.Node]) -> set[str]:
    """The `getitem`s of head values that are tuples (AdaLayerNormZero's `chunk`): the pieces hand tensors on."""
    return {u.name for name in head if not isinstance(nodes[name].meta.get("example_value"), torch.Tensor)
            for u in nodes[name].users if u.op == "call_function" and u.target is operator.getitem}


def _ancestors_in(node: fx.Node, names: set[str]) -> set[str]:
    found, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current.name in found:
            continue
        if current.name in names:
            found.add(current.name)
        todo.extend(current.all_input_nodes)
    return found


def _timestep_embedding(captured: CapturedGraph, stack: BlockStack, nodes: dict[str, fx.Node]) -> tuple[str, str]:
    block = stack.blocks[0]
    if captured.timestep_input is None:
        raise ConfigError("cachepass TeaCache: the compiled forward has no `timestep` input, so the timestep "
                          "embedding cannot be told apart; pass TeaCacheConfig(indicator='modulated').")
    timestep = captured.placeholders()[captured.timestep_input]
    streams = {stack.head_input, *(n for n in stack.stream_inputs if n)}
    fits = [name for name in block.inputs if name not in streams and _floating(nodes[name])
            and _depends_on(nodes[name], timestep)]
    if len(fits) != 1:
        raise ConfigError(f"cachepass TeaCache: {len(fits)} inputs of {block.name} come from the timestep "
                          f"({fits or 'none'}); the timestep-embedding indicator must be exactly one. Pass "
                          f"TeaCacheConfig(indicator='modulated') with coefficients fitted for it.")
    return fits[0], f"{block.name}'s timestep-embedding input"


def _modulated_input(captured: CapturedGraph, block: Block, head_name: str,
                     nodes: dict[str, fx.Node]) -> tuple[str, str]:
    head_input = nodes[head_name]
    aliases = {head_input}
    for name in block.region:  # the hidden states as block 0 reads them: through casts
        node = nodes[name]
        if node.op == "call_method" and node.target in _CASTS and node.args and node.args[0] in aliases:
            aliases.add(node)
    wanted = _shape(head_input)
    for info, region in _children(captured, block.name):
        members = set(region)
        if not any(a in aliases for n in region for a in n.all_input_nodes):
            continue
        outputs = [n for n in region if _shape(n) == wanted and any(u not in members for u in n.users)]
        if len(outputs) != 1:
            break
        return _follow_modulation(outputs[0], set(block.region), wanted).name, f"{info} output, modulated"
    raise ConfigError(f"cachepass TeaCache: cannot find the modulated input of {block.name} (no submodule of it reads "
                      f"the hidden states {head_name} and hands on one value of their shape). Pass "
                      f"TeaCacheConfig(indicator='timestep_embedding') with coefficients fitted for it.")


def _children(captured: CapturedGraph, block: str) -> list[tuple[str, list[fx.Node]]]:
    """Block `block`'s direct submodules as the graph calls them, in call order, with their nodes."""
    from ...compiler.regions import module_regions

    regions = module_regions(captured.gm.graph)
    order = {n: i for i, n in enumerate(captured.gm.graph.nodes)}
    children = [(info.name, regions[key]) for key, info in captured.modules.items()
                if info.call == 0 and info.name.startswith(block + ".") and info.name.count(".") == block.count(".") + 1
                and regions.get(key)]
    return sorted(children, key=lambda child: order[child[1][0]])


def _follow_modulation(node: fx.Node, region: set[str], shape: tuple | None) -> fx.Node:
    """`node`, or the end of the elementwise chain (`* (1 + scale) + shift`, casts) it is the only input of."""
    while len(node.users) == 1:
        user = next(iter(node.users))
        elementwise = (user.target in _ELEMENTWISE if user.op == "call_function" else
                       user.op == "call_method" and user.target in _ELEMENTWISE_METHODS)
        if user.name not in region or not elementwise or _shape(user) != shape:
            break
        node = user
    return node


def _shape(node: fx.Node) -> tuple | None:
    value = node.meta.get("example_value")
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _floating(node: fx.Node) -> bool:
    value = node.meta.get("example_value")
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _depends_on(node: fx.Node, source: fx.Node) -> bool:
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current is source:
            return True
        if current in seen:
            continue
        seen.add(current)
        todo.extend(current.all_input_nodes)
    return False
