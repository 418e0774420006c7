"""Stage 2, tag: find every attention site in the graph and decide its kind.

A site is one attention module call. Its *region* is the set of graph nodes called from inside that
module (its path appears in the node's `nn_module_stack`); its *outputs* are the region nodes used
outside the region -- what the module returns, e.g. two tensors for CogVideoX's joint attention.
Caching a site means storing its outputs and, on reuse steps, feeding them back instead of running
the region.

Sites come from two places:
- modules of diffusers' attention classes (`Attention`, `MochiAttention`, `AttentionModuleMixin`
  subclasses), whatever attention kernel they call;
- any other module that calls an attention kernel (`F.scaled_dot_product_attention`, attention
  custom ops) itself and looks like an attention module by its class or attribute name, so that plain
  PyTorch DiTs are covered.

Kinds, under cachepass's classification:
- cross: the query reads graph values that key/value do not, or the reverse (structure, not names);
- temporal: self attention in a module whose name contains "temporal";
- spatial: every other self attention.
Under `classification="diffusers"`, the kind that picks the cache schedule follows diffusers' PAB
rule exactly (see `diffusers_kind`); the structural kind is still computed and disagreements are
reported, because diffusers' rule files `temporal_transformer_blocks.N.attn1` under spatial.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import fx

from ..errors import located
from ..integrations.scope import find_scope
from .capture import CapturedGraph, ModuleInfo, cut_call
from .regions import RebuiltSize, TensorSpec, is_size_expression, module_regions, size_sources, tensor_spec

logger = logging.getLogger(__name__)

Kind = Literal["spatial", "temporal", "cross"]  # an attention site's structural kind
KINDS: tuple[Kind, ...] = ("spatial", "temporal", "cross")

_ATTENTION_NAME = re.compile(r"attn|attention", re.IGNORECASE)
_TEMPORAL_NAME = re.compile(r"temporal", re.IGNORECASE)
NAME_PATTERNS = ("(?i)attn|attention", "(?i)temporal")  # what tagging reads from module names (scope.py)
@dataclass(frozen=True)
class AttentionSite:
    name: str  # named_modules() name
    module_class: str
    kind: Kind  # structural kind (cachepass's classification)
    kind_reason: str
    cache_kind: Kind | None  # the kind whose schedule applies to this site; None: not cached
    cache_reason: str
    region: tuple[str, ...]  # node names, graph order
    outputs: tuple[str, ...]  # region nodes used outside the region
    attention_calls: tuple[str, ...]  # attention kernel nodes in the region
    output_specs: tuple[TensorSpec, ...]
    # symbolic sizes the region computes from its own tensors and later code uses (Framepack's `sym_sum` of a
    # text length read from data): not cached, rebuilt in reuse variants (rewrite.rebuild_sizes)
    rebuilt: tuple[RebuiltSize, ...] = ()

    @property
    def cached(self) -> bool:
        return self.cache_kind is not None

    @property
    def cache_bytes(self) -> int:
        return sum(spec.nbytes_hint for spec in self.output_specs)


@dataclass(frozen=True)
class Rejection:
    """An attention-like node or module that was not tagged, and why."""

    where: str
    reason: str


@dataclass(frozen=True)
class TagResult:
    sites: tuple[AttentionSite, ...]
    rejected: tuple[Rejection, ...]
    misclassified: tuple[AttentionSite, ...]  # diffusers' rule cached them under another kind than the graph shows

    @property
    def cached_sites(self) -> tuple[AttentionSite, ...]:
        return tuple(s for s in self.sites if s.cached)

    def cached_kinds(self) -> frozenset[Kind]:
        return frozenset(s.cache_kind for s in self.cached_sites)


def is_attention_call(node: fx.Node) -> bool:
    """An attention kernel call (SDPA in any spelling, flex attention, a custom op with 'attention' in its
    name) or attention written out by hand: softmax(Q K^T) V."""
    return _is_attention_kernel(node) or _is_manual_attention(node)


def _is_attention_kernel(node: fx.Node) -> bool:
    if node.op != "call_function":
        return False
    target = node.target
    if isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket, torch._ops.HigherOrderOperator)):
        return "attention" in str(target)
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", "")
    # F.scaled_dot_product_attention (torch._C._nn), F.multi_head_attention_forward, torch._native_multi_head_attention
    return (module.startswith("torch") or module == "") and "attention" in name


_SOFTMAX = (torch.softmax, torch.nn.functional.softmax, torch.Tensor.softmax)
_MATMUL = (torch.matmul, operator.matmul, torch.bmm, torch.baddbmm, torch.Tensor.matmul, torch.Tensor.bmm,
           torch.Tensor.baddbmm)
_MATMUL_METHODS = ("matmul", "bmm", "baddbmm", "__matmul__")
_SCORE_STEPS = 4  # elementwise ops allowed between Q K^T and the softmax (scale, mask, dtype casts)


def _is_matmul(node: fx.Node) -> bool:
    return ((node.op == "call_function" and node.target in _MATMUL)
            or (node.op == "call_method" and node.target in _MATMUL_METHODS))


def _is_manual_attention(node: fx.Node) -> bool:
    """A softmax over the product of two tensors whose result is multiplied again: softmax(Q K^T) V."""
    is_softmax = ((node.op == "call_function" and node.target in _SOFTMAX)
                  or (node.op == "call_method" and node.target == "softmax"))
    return is_softmax and _scores_matmul(node) is not None and any(_is_matmul(u) for u in _through_casts(node))


def _scores_matmul(softmax: fx.Node) -> fx.Node | None:
    """The Q K^T product feeding a softmax, a few elementwise steps up."""
    node = softmax
    for _ in range(_SCORE_STEPS + 1):
        inputs = node.all_input_nodes
        if not inputs:
            return None
        node = inputs[0]
        if _is_matmul(node):
            return node
    return None


def _through_casts(node: fx.Node) -> list[fx.Node]:
    users = list(node.users)
    for user in list(users):  # softmax(...).to(dtype) or dropout before the product with V
        if user.op in ("call_method", "call_function") and not _is_matmul(user):
            users.extend(user.users)
    return users


def _query_key(call: fx.Node) -> tuple[fx.Node | None, fx.Node | None]:
    """What an attention call takes as query and key."""
    if _is_manual_attention(call):
        product = _scores_matmul(call)
        operands = product.args[1:3] if product.target in (torch.baddbmm, torch.Tensor.baddbmm, "baddbmm") \
            else product.args[:2]
        return operands[0], operands[1]
    return _argument(call, 0, "query"), _argument(call, 1, "key")


def _candidate_modules(captured: CapturedGraph, regions: dict[str, list[fx.Node]],
                       rejected: list[Rejection]) -> list[ModuleInfo]:
    """Attention modules, outermost only, in graph order."""
    diffusers_classes = diffusers_attention_classes()
    picked: dict[str, ModuleInfo] = {}
    for key, info in captured.modules.items():
        if key in regions and issubclass(info.cls, diffusers_classes):
            picked[key] = info
    for node in captured.gm.graph.nodes:
        if not is_attention_call(node):
            continue
        stack = list((node.meta.get("nn_module_stack") or {}).keys())
        if any(key in picked for key in stack):
            continue
        info = captured.modules[stack[-1]] if stack else None
        if info is not None and (_ATTENTION_NAME.search(info.cls.__name__)
                                 or _ATTENTION_NAME.search(info.name.rsplit(".", 1)[-1])):
            picked[info.key] = info
        else:
            where = f"{info.name} ({info.cls.__name__})" if info is not None else "the compiled forward itself"
            rejected.append(Rejection(node.name, f"attention called directly in {where}, which is not an attention "
                                                 f"module by class or name; cachepass caches module outputs and "
                                                 f"caching this one would skip more than attention. Move the "
                                                 f"attention into a module named like '*attn*'/'*Attention*'"))
    # Drop modules nested inside another picked module: caching the outer one covers them.
    outer = {}
    for key, info in picked.items():
        ancestors = _ancestors(regions[key][0], key)
        holder = next((a for a in ancestors if a in picked), None)
        if holder is None:
            outer[key] = info
        else:
            rejected.append(Rejection(info.call_name, f"nested inside attention module {picked[holder].call_name}"))
    order = {node: i for i, node in enumerate(captured.gm.graph.nodes)}
    return sorted(outer.values(), key=lambda info: order[regions[info.key][0]])


def _single_calls(candidates: list[ModuleInfo], rejected: list[Rejection], fix: str) -> list[ModuleInfo]:
    """diffusers' hook keeps one cache per module, so a module called several times per forward would
    hand one call's output to another; refuse those modules rather than reproduce that."""
    repeated = {info.name for info in candidates if info.call > 0}
    for name in sorted(repeated):
        rejected.append(Rejection(name, "called more than once per forward; diffusers' hook would share one cache "
                                        f"between the calls. {fix}"))
    return [info for info in candidates if info.name not in repeated]


def _ancestors(node: fx.Node, key: str) -> list[str]:
    stack = list((node.meta.get("nn_module_stack") or {}).keys())
    return stack[: stack.index(key)]


# What a method decides for one site from its module and structural kind: (the kind whose schedule caches it,
# or None; why).
Classify = Callable[[ModuleInfo, Kind], tuple["Kind | None", str]]


def find_sites(captured: CapturedGraph, classify: Classify, single_calls: str = "",
               ) -> tuple[list[tuple[AttentionSite, ModuleInfo]], list[Rejection]]:
    """Every attention site of the graph with its module, and the refused candidates. `classify` gives each
    site's `cache_kind`; `single_calls`, when given, refuses modules called more than once per forward
    (diffusers' rule), each rejection naming this fix in the calling method's words."""
    regions = module_regions(captured.gm.graph)
    rejected: list[Rejection] = []
    candidates = _candidate_modules(captured, regions, rejected)
    if single_calls:
        candidates = _single_calls(candidates, rejected, single_calls)
    sites = []
    for info in candidates:
        with located(module=info.call_name):
            site = _site(captured, info, regions[info.key], classify, rejected)
        if site is not None:
            sites.append((site, info))
    return sites, rejected


def _site(captured: CapturedGraph, info: ModuleInfo, region: list[fx.Node], classify: Classify,
          rejected: list[Rejection]) -> AttentionSite | None:
    name = info.call_name
    members = set(region)
    outputs = [n for n in region if any(user not in members for user in n.users)]
    # Size arithmetic that Dynamo shares with later code (e.g. `batch * heads` for a mask, reused by the next
    # block's attention) is no attention result: it stays in every variant, recomputed from input sizes.
    outputs = [n for n in outputs if not is_size_expression(n, members)]
    if not outputs:
        rejected.append(Rejection(name, "no output of the module is used; nothing to cache"))
        return None
    sizes = [n for n in outputs if isinstance(n.meta.get("example_value"), torch.SymInt)]
    outputs = [n for n in outputs if n not in sizes]
    non_tensor = [n.name for n in outputs if not isinstance(n.meta.get("example_value"), torch.Tensor)]
    if non_tensor:
        rejected.append(Rejection(name, f"module outputs {non_tensor} are not tensors; only tensor outputs "
                                        f"can be cached"))
        return None
    found = {n.name: size_sources(n, outputs, region[0]) for n in sizes}
    unbuildable = [f"{n.name} = {n.meta['example_value'].node.expr}" for n in sizes if found[n.name] is None]
    if unbuildable:
        rejected.append(Rejection(name, f"module outputs symbolic sizes {unbuildable} that cannot be rebuilt from the "
                                        f"cached outputs' sizes or sizes known before the module"))
        return None
    calls = [n for n in region if is_attention_call(n)]
    params = {i.name for i in captured.inputs_with_role("parameter", "buffer", "attribute")}
    kind, kind_reason = structural_kind(info, calls, members, params)
    cache_kind, cache_reason = classify(info, kind)
    return AttentionSite(
        name=name,
        module_class=f"{info.cls.__module__}.{info.cls.__qualname__}",
        kind=kind,
        kind_reason=kind_reason,
        cache_kind=cache_kind,
        cache_reason=cache_reason,
        region=tuple(n.name for n in region),
        outputs=tuple(n.name for n in outputs),
        attention_calls=tuple(n.name for n in calls),
        output_specs=tuple(tensor_spec(n.meta["example_value"]) for n in outputs),
        rebuilt=tuple(RebuiltSize(name, tuple((symbol, *where) for symbol, where in sources.items()))
                      for name, sources in found.items()),
    )


def structural_kind(info: ModuleInfo, calls: list[fx.Node], members: set[fx.Node],
                    params: set[str]) -> tuple[Kind, str]:
    """Cross from the data flow, temporal from names, spatial otherwise."""
    if calls:
        query_node, key_node = _query_key(calls[0])
        query = _region_sources(query_node, members, params)
        key = _region_sources(key_node, members, params)
        if query != key:
            return "cross", f"graph: query reads {_names(query - key) or '-'}, key/value read {_names(key - query) or '-'}"
        self_reason = "graph: query and key/value read the same inputs"
    else:
        instance = info.instance
        if instance is not None and getattr(instance, "is_cross_attention", False):
            return "cross", "module.is_cross_attention=True (no attention kernel call in the graph)"
        self_reason = "no attention kernel call in the graph; module.is_cross_attention is not set"
    if _TEMPORAL_NAME.search(info.name):
        return "temporal", f"{self_reason}; name contains 'temporal'"
    return "spatial", f"{self_reason}; name has no 'temporal'"


def _argument(node: fx.Node, index: int, name: str) -> fx.Node | None:
    """An attention call's query/key, passed by position or, as diffusers' dispatcher does, by keyword."""
    return node.args[index] if len(node.args) > index else node.kwargs.get(name)


def _region_sources(start: fx.Node | None, members: set[fx.Node], params: set[str]) -> frozenset[fx.Node]:
    """The activations from outside the region that `start` depends on (parameters and buffers excluded)."""
    if not isinstance(start, fx.Node):
        return frozenset()
    seen, sources, todo = set(), set(), [start]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if node not in members:
            # sizes are not activations: under dynamic shapes the query may read a symbolic sequence length
            # that key/value do not (CogVideoX's joint attention), which says nothing about cross attention
            if node.name not in params and node.op != "get_attr" and _is_activation(node):
                sources.add(node)
            continue
        todo.extend(node.all_input_nodes)
    return frozenset(sources)


def _is_activation(node: fx.Node) -> bool:
    value = node.meta.get("example_value")
    return not isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool, int, float, bool))


def _names(nodes: Iterable[fx.Node]) -> str:
    return ", ".join(sorted(n.name for n in nodes))


def diffusers_attention_classes() -> tuple[type, ...]:
    try:
        from diffusers.hooks._common import _ATTENTION_CLASSES
    except ImportError:  # diffusers missing or reorganised: plain-module tagging still works
        return ()
    return tuple(_ATTENTION_CLASSES)




def cut_attention() -> tuple[str, tuple[str, ...]]:
    """(the function cut, the attention layers in their model) when the graph being compiled continues attention
    calls after a graph break (NOTE [A module call cut by a graph break], capture.py): every instance of the cut
    module's class with the same processor, since the piece's one graph serves them all; ("", ()) otherwise."""
    function, modules = cut_call()
    cut = [m for m in modules if isinstance(m, diffusers_attention_classes()) or "attention" in type(m).__name__.lower()]
    if not cut:
        return "", ()
    names: list[str] = []
    for module in cut:
        scope = find_scope(module, None)
        model = scope.model() if scope is not None else None
        if model is None:
            names.append(type(module).__name__)
            continue
        processor = type(getattr(module, "processor", None))
        names += [n for n in scope.instances if type(getattr(model.get_submodule(n), "processor", None)) is processor]
    return function, tuple(dict.fromkeys(names))
