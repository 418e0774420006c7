"""The block-stack methods' tag stage (FirstBlockCache, MagCache): find the stack of repeated transformer blocks
and its streams. Errors and logs speak in the calling method's words (its `StackUser`).

A *block* is one child of a ModuleList the model calls its blocks from (diffusers' names,
`_ALL_TRANSFORMER_BLOCK_IDENTIFIERS`, in the order the model defines them, as diffusers' hook takes
them; or the config's `block_lists`; or, for other models, any ModuleList of two or more blocks of one
class). Its *region* is the graph nodes called from inside it, its *inputs* the activations it reads
from outside, its *outputs* the region nodes used outside.

A *stream* is a value the blocks hand on: the hidden states, and for dual-stream blocks (Flux,
HunyuanVideo, CogVideoX) the encoder hidden states. Each output of block k >= 1 is paired with the
input it carries on (same shape and dtype; when several inputs fit, the one its residual `add` chain
starts from), which gives every stream's value after each block. diffusers' hook does the same with
its `TransformerBlockRegistry`; reading it from the graph makes plain PyTorch DiTs work as well.

The *hidden* stream is the one whose last value is used after the stack (by the output projection);
its first-block residual `out - in` is the decision value's input. Streams whose last value is used
after the stack get a tail residual (`last - first block's output`) cached on compute steps.

The *cut*: the head piece is block 0 and every node it needs; the tail is everything else. The
head's values read by the tail (`crossing`) are handed from one compiled piece to the other.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import torch
from tabulate import tabulate
from torch import fx, nn

from ..errors import ConfigError, StageError
from ..integrations.scope import refuse_block_graph
from .capture import CapturedGraph, ModuleInfo
from .editing import is_impure
from .regions import TensorSpec, is_size_expression, module_regions, tensor_spec


class BlockConfig(Protocol):
    """What finding the block stack reads from a method's config (FBCConfig, MagConfig)."""

    block_lists: tuple[str, ...] | None


@dataclass(frozen=True)
class StackUser:
    """The method asking for the block stack, in its own words: its errors and logs name it, not another."""

    title: str  # e.g. "FirstBlockCache"
    config: str  # its cachepass config class, which holds `block_lists`
    instead: str  # what to use on a model without a usable stack, e.g. "PAB, which caches attention layers"
    skips: str = "the blocks after the first"  # what a skip step leaves out, in the method's words


logger = logging.getLogger(__name__)

_CALL_OPS = ("call_function", "call_method", "call_module")
_ADDS = (operator.add, operator.iadd, torch.add, torch.Tensor.add, "add", "add_", "__add__", "__radd__")
_CASTS = ("to", "float", "half", "bfloat16", "type_as", "contiguous", "clone")


@dataclass(frozen=True)
class Block:
    name: str  # named_modules() name, e.g. "transformer_blocks.0"
    module_class: str
    key: str  # nn_module_stack key
    region: tuple[str, ...]
    inputs: tuple[str, ...]  # activations read from outside the region
    outputs: tuple[str, ...]  # region nodes used outside it


@dataclass(frozen=True)
class Stream:
    name: str  # "hidden", "encoder", or "stream<i>"
    values: tuple[str, ...]  # the node holding the stream after block 0, 1, ... (fewer when it stops)
    cached: bool  # its last value is used after the stack: a tail residual is kept
    spec: TensorSpec

    @property
    def head_output(self) -> str:
        return self.values[0]

    @property
    def last(self) -> str:
        return self.values[-1]


@dataclass(frozen=True)
class BlockStack:
    lists: tuple[str, ...]  # ModuleList attributes the blocks came from
    found_by: str  # how the lists were chosen
    blocks: tuple[Block, ...]
    streams: tuple[Stream, ...]
    hidden: int  # index of the stream whose first-block residual decides
    head_input: str  # block 0's input carried on by the hidden stream
    head_nodes: frozenset[str]  # the head piece (placeholders excluded)
    crossing: tuple[str, ...]  # head values the tail reads, graph order
    stream_inputs: tuple[str | None, ...] = ()  # per stream, block 0's input it carries on (None: not found)

    @property
    def hidden_stream(self) -> Stream:
        return self.streams[self.hidden]

    @property
    def cached_streams(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.streams) if s.cached)

    def block_of(self) -> dict[str, int]:
        """Node name -> index of the block whose region holds it."""
        return {name: i for i, block in enumerate(self.blocks) for name in block.region}


def tag_blocks(captured: CapturedGraph, config: BlockConfig, user: StackUser) -> BlockStack:
    refuse_block_graph(captured, user.title, f"it decides per step whether to skip {user.skips}, across the whole stack")
    graph = captured.gm.graph
    nodes = {n.name: n for n in graph.nodes}
    lists, found_by = _block_lists(captured, config, user)
    infos = _block_infos(captured, lists, user)
    regions = module_regions(graph)
    params = {i.name for i in captured.inputs_with_role("parameter", "buffer")}
    blocks = tuple(_block(info, regions.get(info.key, []), params, user) for info in infos)
    streams = _streams(blocks, nodes, user)
    hidden = _hidden_stream(streams, blocks, nodes, user)
    streams = name_streams(streams, hidden)
    head_input = _carried_input(blocks[0], nodes[streams[hidden].head_output], nodes)
    if head_input is None:
        raise ConfigError(f"cachepass {user.title}: cannot tell which input of {blocks[0].name} its hidden-states "
                          f"output {streams[hidden].head_output} carries on (inputs {list(blocks[0].inputs)}); "
                          f"the first block's residual is undefined.")
    head = _head_nodes(graph, blocks)
    crossing = tuple(n.name for n in graph.nodes if n.name in head and any(u.name not in head for u in n.users))
    inputs = tuple(_carried_input(blocks[0], nodes[s.head_output], nodes) for s in streams)
    stack = BlockStack(lists, found_by, blocks, streams, hidden, head_input, frozenset(head), crossing, inputs)
    logger.debug("tag: %s blocks %s (%s); streams %s; hidden %s from %s; head %d nodes, %d crossing", user.title,
                 [b.name for b in blocks], found_by, [(s.name, s.values, s.cached) for s in streams],
                 streams[hidden].name, head_input, len(head), len(crossing))
    return stack


# -- which blocks ---------------------------------------------------------------------------------

def diffusers_block_identifiers() -> tuple[str, ...]:
    try:
        from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS
    except ImportError:  # diffusers missing or reorganised: the graph's own ModuleLists still work
        return ("transformer_blocks", "single_transformer_blocks", "blocks", "layers", "temporal_transformer_blocks")
    return tuple(_ALL_TRANSFORMER_BLOCK_IDENTIFIERS)


def _block_lists(captured: CapturedGraph, config: BlockConfig, user: StackUser) -> tuple[tuple[str, ...], str]:
    """The ModuleList attributes holding the blocks, in the order the model defines them."""
    called = _called_lists(captured)
    root = captured.root() if captured.root is not None else None
    defined = ([name for name, child in root.named_children() if isinstance(child, nn.ModuleList)]
               if root is not None else list(called))
    if config.block_lists is not None:
        missing = [name for name in config.block_lists if name not in called]
        if missing:
            raise ConfigError(f"{user.config}.block_lists names {missing}, which the compiled forward calls no block "
                              f"of; ModuleLists whose blocks it calls: {sorted(called) or 'none'}.")
        return config.block_lists, f"{user.config}.block_lists"
    known = diffusers_block_identifiers()
    named = [name for name in defined if name in known and name in called]
    if named:
        return tuple(named), "diffusers' block identifiers"
    repeated = [name for name in defined if name in called and len(called[name]) >= 2 and len(set(called[name])) == 1]
    if repeated:
        return tuple(repeated), "ModuleLists of repeated blocks in the graph"
    raise ConfigError(
        f"cachepass {user.title} found no stack of repeated transformer blocks in this graph: no ModuleList "
        f"named like diffusers' blocks ({', '.join(sorted(known))}) and none holding two or more blocks of one class "
        f"(ModuleLists called: {sorted(called) or 'none'}). {user.title} needs the model's blocks in an "
        f"nn.ModuleList; name it with cachepass.{user.config}(block_lists=('<attribute>',)), or use {user.instead}.")


def _called_lists(captured: CapturedGraph) -> dict[str, list[type]]:
    """Top-level `<list>.<index>` modules the graph calls, grouped by list: the classes of its blocks."""
    lists: dict[str, list[type]] = {}
    for info in captured.modules.values():
        parts = info.name.split(".")
        if len(parts) == 2 and parts[1].isdigit() and info.call == 0:
            lists.setdefault(parts[0], []).append(info.cls)
    return lists


def _block_infos(captured: CapturedGraph, lists: tuple[str, ...], user: StackUser) -> list[ModuleInfo]:
    by_name = {info.name: info for info in captured.modules.values() if info.call == 0}
    repeated = sorted({info.name for info in captured.modules.values() if info.call > 0
                       and info.name.split(".")[0] in lists and info.name.count(".") == 1})
    if repeated:
        raise ConfigError(f"cachepass {user.title}: blocks {repeated} are called more than once per forward; "
                          f"first-block caching needs each block called once.")
    infos = []
    for list_name in lists:
        indices = sorted(int(name.split(".")[1]) for name in by_name if name.split(".")[0] == list_name
                         and name.count(".") == 1 and name.split(".")[1].isdigit())
        infos += [by_name[f"{list_name}.{i}"] for i in indices]
    if len(infos) < 2:
        raise ConfigError(f"cachepass {user.title}: the stack {list(lists)} has {len(infos)} block(s) in this "
                          f"graph; skipping the blocks after the first needs at least two. Use {user.instead}.")
    first = lists[0]
    if infos[0].name != f"{first}.0":
        raise ConfigError(f"cachepass {user.title}: the first block of {first!r} ({first}.0) is not called in this "
                          f"graph (the first one called is {infos[0].name}); diffusers' hook decides on {first}.0.")
    return infos


def _block(info: ModuleInfo, region: list[fx.Node], params: set[str], user: StackUser) -> Block:
    members = set(region)
    inputs: list[fx.Node] = []
    for node in region:
        for arg in node.all_input_nodes:
            if arg not in members and arg.name not in params and arg.op != "get_attr" and arg not in inputs:
                inputs.append(arg)
    outputs = [n for n in region if any(u not in members for u in n.users) and not is_size_expression(n, members)]
    odd = [n.name for n in outputs if not isinstance(n.meta.get("example_value"), torch.Tensor)]
    if odd:
        raise ConfigError(f"cachepass {user.title}: block {info.name} hands non-tensor values {odd} to later code; "
                          f"only tensor outputs can be cached.")
    return Block(info.name, f"{info.cls.__module__}.{info.cls.__qualname__}", info.key, tuple(n.name for n in region),
                 tuple(n.name for n in inputs), tuple(n.name for n in outputs))


# -- streams --------------------------------------------------------------------------------------

def _signature(node: fx.Node) -> tuple | None:
    value = node.meta.get("example_value")
    if not isinstance(value, torch.Tensor):
        return None
    return tensor_spec(value).shape, value.dtype


def _carried_input(block: Block, output: fx.Node, nodes: dict[str, fx.Node]) -> str | None:
    """The input of `block` that `output` carries on: the only one of its shape and dtype, else the one
    its residual `add` chain starts from."""
    wanted = _signature(output)
    fits = [name for name in (*block.inputs, *_input_shards(block, nodes)) if _signature(nodes[name]) == wanted]
    if len(fits) == 1:
        return fits[0]
    chain = _add_chain_sources(output, set(block.region), nodes) & set(fits)
    return chain.pop() if len(chain) == 1 else None


_SPLITS = frozenset({"chunk", "tensor_split", "split"})


def _input_shards(block: Block, nodes: dict[str, fx.Node]) -> list[str]:
    """Pieces of a block input cut inside the block's region: diffusers' context-parallel input hook on a
    block (Wan's `blocks.0`) splits its hidden states to this rank's shard as the block's first op, so
    the block carries on the shard, not the input (`x.chunk(world, dim)[rank]`)."""
    inputs, shards = set(block.inputs), []
    for name in block.region:
        node = nodes[name]
        if node.op != "call_function" or node.target is not operator.getitem or not isinstance(node.args[0], fx.Node):
            continue
        split = node.args[0]
        method = split.target if split.op == "call_method" else getattr(split.target, "__name__", None)
        if method in _SPLITS and split.args and getattr(split.args[0], "name", None) in inputs:
            shards.append(name)
    return shards


def _add_chain_sources(output: fx.Node, region: set[str], nodes: dict[str, fx.Node]) -> set[str]:
    """Outside values reached from `output` through adds and casts only: `x + f(x)` starts from x."""
    found, todo, seen = set(), [output], set()
    while todo:
        node = todo.pop()
        if node.name in seen:
            continue
        seen.add(node.name)
        if node.name not in region:
            found.add(node.name)
            continue
        if node.target in _ADDS:
            todo += [a for a in node.args if isinstance(a, fx.Node)]
        elif node.op == "call_method" and node.target in _CASTS and node.args:
            todo.append(node.args[0])
    return found


def _streams(blocks: tuple[Block, ...], nodes: dict[str, fx.Node], user: StackUser) -> tuple[Stream, ...]:
    values = [[name] for name in blocks[0].outputs]
    current = {name: i for i, name in enumerate(blocks[0].outputs)}  # node -> stream it is the latest value of
    for block in blocks[1:]:
        moved = {}
        for output in block.outputs:
            carried = _carried_input(block, nodes[output], nodes)
            if carried is None:
                raise ConfigError(f"cachepass {user.title}: cannot tell which input of {block.name} its output "
                                  f"{output} carries on (inputs {list(block.inputs)}).")
            if carried not in current:
                raise ConfigError(f"cachepass {user.title}: {block.name} carries on {carried}, which is no block's "
                                  f"output: code between the blocks transforms the hidden states, so skipping the "
                                  f"blocks after the first is not defined for this model.")
            moved[current[carried]] = output
        for stream, output in moved.items():
            current = {k: v for k, v in current.items() if v != stream}
            current[output] = stream
            values[stream].append(output)
    last = blocks[-1]
    after = set().union(*(b.region for b in blocks))
    result = []
    for i, chain in enumerate(values):
        final = nodes[chain[-1]]
        used_after = any(u.name not in after for u in final.users)
        cached = used_after and (len(chain) == len(blocks) or chain[-1] in last.outputs)
        result.append(Stream(f"stream{i}", tuple(chain), cached, tensor_spec(final.meta["example_value"])))
    return tuple(result)


def _hidden_stream(streams: tuple[Stream, ...], blocks: tuple[Block, ...], nodes: dict[str, fx.Node],
                   user: StackUser) -> int:
    cached = [i for i, s in enumerate(streams) if s.cached]
    output = next(n for n in nodes.values() if n.op == "output")
    reaching = [i for i in cached if _reaches(nodes[streams[i].last], output)]
    if len(reaching) != 1:
        raise ConfigError(f"cachepass {user.title}: {len(reaching)} block streams reach the model output after the "
                          f"stack ({[streams[i].values[-1] for i in reaching]}); the hidden-states stream, whose "
                          f"first-block residual decides, must be exactly one.")
    return reaching[0]


def name_streams(streams: tuple[Stream, ...], hidden: int) -> tuple[Stream, ...]:
    names = ["hidden" if i == hidden else "encoder" if len(streams) == 2 else f"stream{i}" for i in range(len(streams))]
    return tuple(Stream(name, s.values, s.cached, s.spec) for name, s in zip(names, streams))


def _reaches(start: fx.Node, target: fx.Node) -> bool:
    todo, seen = [start], set()
    while todo:
        node = todo.pop()
        if node is target:
            return True
        if node in seen:
            continue
        seen.add(node)
        todo.extend(node.users)
    return False


# -- the cut --------------------------------------------------------------------------------------

def cut_after(graph: fx.Graph, stack: BlockStack, count: int) -> tuple[frozenset[str], tuple[str, ...]]:
    """The head piece of the first `count` blocks (DBCache's Fn blocks; FirstBlockCache's is `count=1`): its
    nodes, and the head values the rest reads (graph order)."""
    head = _head_nodes(graph, stack.blocks, count)
    crossing = tuple(n.name for n in graph.nodes if n.name in head and any(u.name not in head for u in n.users))
    return frozenset(head), crossing


def _head_nodes(graph: fx.Graph, blocks: tuple[Block, ...], count: int = 1) -> set[str]:
    """Blocks [0, count) and every node they need; impure nodes before them (in-place writes, interpreter state
    changes) stay with them."""
    nodes = {n.name: n for n in graph.nodes}
    return nodes_needed(graph, [nodes[name] for block in blocks[:count] for name in block.region],
                        set().union(*(b.region for b in blocks[count:])))


def nodes_needed(graph: fx.Graph, start: Iterable[fx.Node], later: set[str]) -> set[str]:
    """The names of `start` and every node they need (placeholders excluded): a head piece cut from the graph;
    impure nodes before its last node (in-place writes, interpreter state changes: NOTE [State changes stay in
    their piece]), other than those in `later`, stay with it."""
    head: set[str] = set()
    _close(head, list(start))
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    last = max(order[name] for name in head)
    impure = [n for n in graph.nodes if order[n.name] < last and n.op in _CALL_OPS and n.name not in head
              and n.name not in later and _writes_state(n)]
    _close(head, impure)
    return head


# NOTE [State changes stay in their piece]
# flex attention's mask building under Dynamo leaves pairs of `_vmap_increment_nesting` /
# `_vmap_decrement_nesting` calls in the graph (nothing between them once traced). Their values are unused
# ints and the calls carry no module of their own consistently: in Kandinsky 6 SR and AnyFlowFAR the
# increments fell in block 0's region and the decrements outside it, so a head piece ended with the vmap
# level raised and its flex_attention raised `KeyError: Vmap`. A call whose non-tensor value nothing uses is
# there for its effect: it stays with the head when it lies before the head's last node, as its pair does.
def _writes_state(node: fx.Node) -> bool:
    """An in-place write or other side effect (not merely a non-tensor value, which `is_impure` also keeps --
    unless nothing uses it: NOTE [State changes stay in their piece])."""
    if not node.users and is_impure(node):
        return True
    target = node.target
    if node.is_impure() or (isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable):
        return True
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    return (name.endswith("_") and not name.endswith("__")) or "out" in node.kwargs


def _close(head: set[str], start: Iterable[fx.Node]) -> None:
    todo = list(start)
    while todo:
        node = todo.pop()
        if node.name in head or node.op == "placeholder":
            continue
        head.add(node.name)
        todo.extend(node.all_input_nodes)


def stream_arg(node: fx.Node, env: dict, skip: dict[str, fx.Node], stack: BlockStack, outside: bool) -> fx.Node:
    """What a copied node reads for `node`: on skip steps, code outside the blocks sees every stream value
    as `skip` gives it (FirstBlockCache: `residual + block 0's output`; MagCache: `input + residual`)."""
    if not (skip and outside and node.name in _stream_values(stack)):
        return env[node]  # tail-compute (no `skip`), or a value that is no stream's
    if node.name not in skip:
        raise StageError("rewrite", RuntimeError(
            f"{node.name} (a block stream value with no cached residual) is read outside the blocks; the blocks "
            f"cannot be skipped for this model"))
    return skip[node.name]


def _stream_values(stack: BlockStack) -> frozenset[str]:
    return frozenset(v for s in stack.streams for v in s.values)


def check_blocks_removed(graph: fx.Graph, stack: BlockStack, where: str, skipped) -> None:
    """Warn when blocks a skip step should not run are still in its graph (kept alive by an impure node)."""
    remaining = {n.name: n for n in graph.nodes}
    carried = {name for name in (stack.head_input, *stack.stream_inputs) if name in remaining}
    # a block input's shard cut inside block 0 (context parallelism) is what a skip step carries on, not work
    carried |= {remaining[name].args[0].name for name in carried if remaining[name].target is operator.getitem}
    alive = sorted({block.name for block in skipped for name in block.region if name in remaining and name not in carried})
    if alive:
        logger.warning("cachepass rewrite: blocks %s still run in %s (an in-place write or another value keeps "
                       "them alive); skip steps save less", alive, where)


def block_table(stack: BlockStack, roles: tuple[str, str] | None = None, notes: Iterable[str] = (),
                fmt: str = "simple") -> str:
    """The block stack as a table and where it was found, then the method's own `notes` on how it uses it.
    `roles`: a "piece" column in the method's words, (the first block's, the others')."""
    rows = []
    for i, block in enumerate(stack.blocks):
        role = () if roles is None else (roles[0] if i == 0 else f"{roles[1]} (last)" if i == len(stack.blocks) - 1
                                         else roles[1],)
        streams = [f"{s.name}={s.values[i]}" for s in stack.streams if i < len(s.values)]
        rows.append((block.name, block.module_class.rsplit(".", 1)[-1], *role, len(block.region), ", ".join(streams)))
    headers = ("block", "class", *(("piece",) if roles else ()), "region nodes", "stream values after it")
    table = tabulate(rows, headers=headers, tablefmt=fmt)
    return "\n".join([f"{table}\n\nblocks found by: {stack.found_by} ({', '.join(stack.lists)})", *notes])


def copy_skipping_stack(source: fx.Graph, graph: fx.Graph, env: dict, stack: BlockStack,
                        skip_values: Callable[[], dict[str, fx.Node]] | None) -> tuple[fx.Node, ...]:
    """Copy `source`'s nodes (its placeholders already in `env`) into `graph` and return its outputs. With
    `skip_values` (a whole-stack skip: MagCache, SeaCache), code outside the blocks reads each stream value as
    `skip_values()` gives it, called once block 0's inputs exist; the blocks are then dead code."""
    nodes = {n.name: n for n in source.nodes}
    skip: dict[str, fx.Node] = {}
    inputs = (stack.head_input, *(n for n in stack.stream_inputs if n))
    in_blocks = stack.block_of()
    for node in source.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if skip_values is not None and not skip and all(nodes[name] in env for name in inputs):
            skip = skip_values()
        outside = node.name not in in_blocks
        env[node] = graph.node_copy(node, lambda n, outside=outside: stream_arg(n, env, skip, stack, outside))
    results = fx.map_arg(source.output_node().args[0], lambda n: stream_arg(n, env, skip, stack, True))
    return tuple(results) if isinstance(results, (tuple, list)) else (results,)


def skipped_stream_values(graph: fx.Graph, stack: BlockStack, env: dict, hidden: fx.Node,
                          cached: dict[int, fx.Node], what: str) -> dict[str, fx.Node]:
    """Stream value -> what a skipped stack gives it: the hidden stream `hidden`, stream i `cached[i]` when
    given, any other stream its block-0 input."""
    nodes = {n.name: n for n in env}
    skip: dict[str, fx.Node] = {}
    for i, stream in enumerate(stack.streams):
        if i == stack.hidden:
            value = hidden
        elif i in cached:
            value = cached[i]
        elif stack.stream_inputs[i] is not None:
            value = env[nodes[stack.stream_inputs[i]]]
        else:
            continue
        skip.update({name: value for name in stream.values})
    if not skip:
        raise StageError("rewrite", RuntimeError(f"{what}: no stream of the block stack can be skipped"))
    return skip


# -- a graph of one block (regional compilation) --------------------------------------------------

@dataclass(frozen=True)
class BlockGraphStreams:
    """A graph of one block (NOTE [Graphs of one block], integrations/scope.py) as the block-stack methods see
    it: the model's whole stack, and which graph input each graph output carries on (the block's streams)."""

    stack: tuple[str, ...]  # every block of the model's stack, call order (`lists` flattened)
    lists: tuple[str, ...]  # the ModuleList attributes holding them
    found_by: str
    carried: tuple[int, ...]  # per graph output, the graph input it carries on (a skipped block returns that)
    hidden: int  # the graph output of the hidden-states stream, whose residual decides
    names: tuple[str, ...]  # per graph output, its stream's name ("hidden", "encoder", "stream<i>")
    block_class: type  # the compiled block's class; its instances outside `stack` always run

    @property
    def head(self) -> str:
        return self.stack[0]

    @property
    def tail(self) -> str:
        return self.stack[-1]


def model_stack(model: nn.Module, config: BlockConfig, instance: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(the block paths of `model`'s stack, the lists, how they were found), as diffusers' hook takes them: the
    config's `block_lists`, else the model's ModuleList children with diffusers' block names in the order it
    defines them, else the ModuleList child holding `instance`."""
    if config.block_lists is not None:
        lists, found_by = config.block_lists, "block_lists of the config"
    else:
        known = diffusers_block_identifiers()
        lists = tuple(name for name, child in model.named_children() if name in known and isinstance(child, nn.ModuleList))
        found_by = "diffusers' block identifiers"
        if not lists:
            parent = instance.rpartition(".")[0]
            lists = (parent,) if parent and "." not in parent else ()
            found_by = "the ModuleList holding the compiled block"
    paths = []
    for name in lists:
        blocks = getattr(model, name, None)
        if not isinstance(blocks, nn.ModuleList):
            raise ConfigError(f"block_lists names {name!r}, which is no ModuleList of {type(model).__name__}.")
        paths += [f"{name}.{i}" for i in range(len(blocks))]
    return tuple(paths), tuple(lists), found_by


def tag_block_graph(captured: CapturedGraph, config: BlockConfig, user: StackUser) -> BlockGraphStreams:
    """The stack of the model owning a graph of one block, and the block's streams read from the graph: each
    output paired with the input it carries on (`_carried_input`); the hidden one is the output carrying the
    `hidden_states` argument (diffusers' block registry names it so), or the only stream."""
    model = captured.model() if captured.model is not None else None
    if model is None:
        raise ConfigError(f"cachepass {user.title}: the model owning {captured.prefix} is gone.")
    stack, lists, found_by = model_stack(model, config, captured.prefix)
    block_class = type(model.get_submodule(captured.prefix))
    if not any(type(model.get_submodule(path)) is block_class for path in stack):
        return BlockGraphStreams(stack, lists, found_by, (), 0, (), block_class)  # no block of the stack
    graph = captured.gm.graph
    nodes = {n.name: n for n in graph.nodes}
    inputs = {i.name: i for i in captured.inputs_with_role("input")}
    region = tuple(n.name for n in graph.nodes if n.op not in ("placeholder", "output"))
    block = Block(captured.prefix, "", "", region, tuple(inputs), ())
    results = fx.map_arg(graph.output_node().args[0], lambda n: n)
    outputs = list(results) if isinstance(results, (tuple, list)) else [results]
    carried = []
    for output in outputs:
        found = None
        if isinstance(output, fx.Node):
            found = output.name if output.name in inputs else _carried_input(block, output, nodes)
        if found is None:
            raise ConfigError(f"cachepass {user.title}: {captured.prefix} returns {getattr(output, 'name', output)}, "
                              f"which carries on none of its inputs {sorted(inputs)} (or several alike); a skipped "
                              f"block must hand its inputs on. Compile the whole transformer instead of its blocks.")
        carried.append(found)
    sources = [inputs[name].source for name in carried]
    hidden = [i for i, source in enumerate(sources) if source.endswith("['hidden_states']")]
    if len(hidden) != 1 and len(outputs) == 1:
        hidden = [0]
    if len(hidden) != 1:
        raise ConfigError(f"cachepass {user.title}: cannot tell which output of {captured.prefix} is the hidden "
                          f"states (outputs carry {sources}); the first block's residual is undefined.")
    names = ["hidden" if i == hidden[0] else "encoder" if len(outputs) == 2 else f"stream{i}" for i in range(len(outputs))]
    index = {name: i for i, name in enumerate(n.name for n in captured.placeholders())}
    return BlockGraphStreams(stack, lists, found_by, tuple(index[name] for name in carried), hidden[0], tuple(names),
                             block_class)
