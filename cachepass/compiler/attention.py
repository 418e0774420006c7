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

import functools
import logging
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import fx

from .capture import CapturedGraph, ModuleInfo
from ..options import Kind, PABConfig
from ..errors import located

logger = logging.getLogger(__name__)

_ATTENTION_NAME = re.compile(r"attn|attention", re.IGNORECASE)
_TEMPORAL_NAME = re.compile(r"temporal", re.IGNORECASE)
NAME_PATTERNS = ("(?i)attn|attention", "(?i)temporal")  # what tagging reads from module names (scope.py)
_CALL_OPS = ("call_function", "call_method", "call_module")


@dataclass(frozen=True)
class TensorSpec:
    """Shape (ints, or str for symbolic sizes), dtype and device of a cached tensor."""

    shape: tuple[int | str, ...]
    dtype: torch.dtype
    device: torch.device
    nbytes_hint: int  # bytes at the sizes seen during capture

    @functools.cached_property  # the read validator asks before every read
    def static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)


@dataclass(frozen=True)
class RebuiltSize:
    """A symbolic size a region hands on, and where each of its symbols is found outside the region
    (NOTE [Symbolic sizes a region hands on])."""

    node: str
    sources: tuple[tuple[str, str, int | None], ...]  # (symbol, node name, dimension; None: the node's own value)


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


def tag(captured: CapturedGraph, config: PABConfig) -> TagResult:
    graph = captured.gm.graph
    regions = _regions(graph)
    rejected: list[Rejection] = []
    candidates = _candidate_modules(captured, regions, rejected)
    if config.classification == "diffusers":
        candidates = _single_calls(candidates, rejected)
    sites = []
    for info in candidates:
        with located(module=info.call_name):
            site = _site(captured, info, regions[info.key], config, rejected)
        if site is not None:
            sites.append((site, info))
    configured = config.rules()
    hookable = _diffusers_attention_classes() if config.classification == "diffusers" else (object,)
    misclassified = tuple(site for site, info in sites
                          if site.cache_kind != site.kind and (site.cache_kind is not None or site.kind in configured)
                          and issubclass(info.cls, hookable))
    sites = [site for site, _ in sites]
    result = TagResult(tuple(sites), tuple(rejected), misclassified)
    _log(result)
    return result


def _regions(graph: fx.Graph) -> dict[str, list[fx.Node]]:
    regions: dict[str, list[fx.Node]] = {}
    for node in graph.nodes:
        if node.op in _CALL_OPS:
            for key in node.meta.get("nn_module_stack") or {}:
                regions.setdefault(key, []).append(node)
    return regions


def _candidate_modules(captured: CapturedGraph, regions: dict[str, list[fx.Node]],
                       rejected: list[Rejection]) -> list[ModuleInfo]:
    """Attention modules, outermost only, in graph order."""
    diffusers_classes = _diffusers_attention_classes()
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


def _single_calls(candidates: list[ModuleInfo], rejected: list[Rejection]) -> list[ModuleInfo]:
    """diffusers' hook keeps one cache per module, so a module called several times per forward would
    hand one call's output to another; refuse those modules rather than reproduce that."""
    repeated = {info.name for info in candidates if info.call > 0}
    for name in sorted(repeated):
        rejected.append(Rejection(name, "called more than once per forward; diffusers' hook would share one cache "
                                        "between the calls. Use cachepass.PABConfig to cache each call separately"))
    return [info for info in candidates if info.name not in repeated]


def _ancestors(node: fx.Node, key: str) -> list[str]:
    stack = list((node.meta.get("nn_module_stack") or {}).keys())
    return stack[: stack.index(key)]


def _site(captured: CapturedGraph, info: ModuleInfo, region: list[fx.Node], config: PABConfig,
          rejected: list[Rejection]) -> AttentionSite | None:
    name = info.call_name
    members = set(region)
    outputs = [n for n in region if any(user not in members for user in n.users)]
    # Size arithmetic that Dynamo shares with later code (e.g. `batch * heads` for a mask, reused by the next
    # block's attention) is no attention result: it stays in every variant, recomputed from input sizes.
    outputs = [n for n in outputs if not _is_size_expression(n, members)]
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
    if config.classification == "diffusers":
        cache_kind, cache_reason = diffusers_kind(info, config, kind)
    elif kind in config.rules():
        cache_kind, cache_reason = kind, f"{kind}_skip={getattr(config, f'{kind}_skip')}"
    else:
        cache_kind, cache_reason = None, f"not cached: {kind}_skip is None"
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


# NOTE [Symbolic sizes a region hands on]
# With sizes read from data (Framepack at batch 1 cuts the text to `mask.sum()` tokens), Dynamo binds an
# unbacked symbol for every size a slice produces, and code after an attention module may use one its region
# computed from its own tensors (`sym_sum` of the two halves' lengths, for runtime asserts). A reuse variant
# removes the region, so such a value is rebuilt from what is still there: the sizes of the cached outputs
# (the read placeholders carry the same symbols) and the values computed before the module. `size_sources`
# finds, for every symbol of the expression, a node and dimension that hold it; a size it cannot place refuses
# the layer at tag time, with the expression in the reason.
def size_sources(node: fx.Node, outputs: list[fx.Node], region_start: fx.Node) -> dict[str, tuple[str, int | None]] | None:
    """{symbol: (node name, dimension or None for a SymInt node)} for the symbols of `node`'s symbolic value,
    from the cached `outputs` or from nodes before the region; None when one cannot be found or the expression
    is not a sum of products of symbols and integers."""
    expr = node.meta["example_value"].node.expr
    if not _is_polynomial(expr):
        return None
    wanted = {str(s) for s in expr.free_symbols}
    found: dict[str, tuple[str, int | None]] = {}
    for candidate in [*outputs, *_before(region_start)]:
        value = candidate.meta.get("example_value")
        dims = list(enumerate(value.shape)) if isinstance(value, torch.Tensor) else [(None, value)]
        for dim, size in dims:
            if isinstance(size, torch.SymInt) and str(size.node.expr) in wanted - found.keys():
                found[str(size.node.expr)] = (candidate.name, dim)
        if len(found) == len(wanted):
            return found
    return found if len(found) == len(wanted) else None


def _before(node: fx.Node) -> list[fx.Node]:
    """The nodes before `node`, nearest first."""
    found, current = [], node.prev
    while current.op != "root":
        found.append(current)
        current = current.prev
    return found


def _is_polynomial(expr: object) -> bool:
    import sympy

    if isinstance(expr, (sympy.Symbol, sympy.Integer)):
        return True
    return isinstance(expr, (sympy.Add, sympy.Mul)) and all(_is_polynomial(a) for a in expr.args)


def _is_size_expression(node: fx.Node, members: set[fx.Node]) -> bool:
    """A SymInt/SymFloat/SymBool (or constant number) computed without any tensor produced in the region."""
    if not isinstance(node.meta.get("example_value"), (torch.SymInt, torch.SymFloat, torch.SymBool, int, float)):
        return False
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current in seen or current not in members:
            continue
        seen.add(current)
        if isinstance(current.meta.get("example_value"), torch.Tensor):
            return False
        todo.extend(current.all_input_nodes)
    return True


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


def diffusers_kind(info: ModuleInfo, config: PABConfig, graph_kind: Kind) -> tuple[Kind | None, str]:
    """diffusers' `_apply_pyramid_attention_broadcast_on_attention_class`, rule for rule.

    Identifiers are searched anywhere in the module name (unanchored `re.search`) and spatial is
    tested before temporal, so `temporal_transformer_blocks.0.attn1` matches spatial's "blocks".
    """
    if not issubclass(info.cls, _diffusers_attention_classes()):
        return None, "not cached: diffusers' PAB hooks only diffusers attention classes; use cachepass.PABConfig"
    instance = info.instance
    if instance is not None:
        is_cross, cross_from = bool(getattr(instance, "is_cross_attention", False)), "module.is_cross_attention"
    else:
        is_cross, cross_from = graph_kind == "cross", "graph (module not resolvable)"

    def matches(kind: Kind) -> str | None:
        return next((i for i in config.identifiers(kind) if re.search(i, info.name)), None)

    for kind, wants_cross in (("spatial", False), ("temporal", False), ("cross", True)):
        hit = matches(kind)
        if hit is not None and getattr(config, f"{kind}_skip") is not None and is_cross == wants_cross:
            return kind, f"diffusers rule: name matches {hit!r}, {cross_from}={is_cross}"
    return None, f"not cached: diffusers rule matches no configured kind ({cross_from}={is_cross})"


def tensor_spec(value: torch.Tensor) -> TensorSpec:
    shape = tuple(int(s) if not isinstance(s, torch.SymInt) else str(s.node.expr) for s in value.shape)
    numel = 1
    for s in value.shape:
        numel *= _hint(s)
    return TensorSpec(shape, value.dtype, value.device, numel * value.element_size())


def _hint(size: int | torch.SymInt) -> int:
    if isinstance(size, torch.SymInt):
        hint = size.node.hint
        return int(hint) if hint is not None else 1
    return int(size)


def _names(nodes: Iterable[fx.Node]) -> str:
    return ", ".join(sorted(n.name for n in nodes))


def _diffusers_attention_classes() -> tuple[type, ...]:
    try:
        from diffusers.hooks._common import _ATTENTION_CLASSES
    except ImportError:  # diffusers missing or reorganised: plain-module tagging still works
        return ()
    return tuple(_ATTENTION_CLASSES)


def _log(result: TagResult) -> None:
    for site in result.sites:
        logger.debug("tag: %s (%s) kind=%s [%s] cache=%s [%s], %d nodes, outputs %s", site.name, site.module_class,
                     site.kind, site.kind_reason, site.cache_kind, site.cache_reason, len(site.region), site.outputs)
    for rejection in result.rejected:
        logger.debug("tag: NOT tagged %s: %s", rejection.where, rejection.reason)
    if result.misclassified:
        names = ", ".join(f"{s.name} ({s.kind} -> {s.cache_kind or 'not cached'})" for s in result.misclassified)
        logger.warning("cachepass: diffusers' PAB rule classifies %d layer(s) differently from the graph: %s. "
                       "cachepass follows diffusers for identical outputs; pass cachepass.PABConfig(...) to cache "
                       "them by their real kind.", len(result.misclassified), names)
