"""PAB's tag stage: which attention sites it caches, under which kind's schedule.

Discovery (regions, structural kinds) is method-neutral (compiler/attention.py); PAB adds its policy: under
cachepass's classification a site is cached when its structural kind has a skip, under diffusers' rule
(`classification="diffusers"`) `diffusers_kind` reproduces `_apply_pyramid_attention_broadcast_on_attention_class`.
"""

from __future__ import annotations

import logging
import re

from ...compiler.attention import Kind, TagResult, diffusers_attention_classes, find_sites
from ...compiler.capture import CapturedGraph, ModuleInfo
from .config import PABConfig

logger = logging.getLogger(__name__)
# Under diffusers' rule a module called twice per forward is refused; cachepass's own rule caches each call.
SINGLE_CALLS_FIX = "Use cachepass.PABConfig to cache each call separately"


def tag(captured: CapturedGraph, config: PABConfig) -> TagResult:
    sites, rejected = find_sites(captured, lambda info, kind: cache_kind(info, kind, config),
                                 single_calls=SINGLE_CALLS_FIX if config.classification == "diffusers" else "")
    configured = config.rules()
    hookable = diffusers_attention_classes() if config.classification == "diffusers" else (object,)
    misclassified = tuple(site for site, info in sites
                          if site.cache_kind != site.kind and (site.cache_kind is not None or site.kind in configured)
                          and issubclass(info.cls, hookable))
    result = TagResult(tuple(site for site, _ in sites), tuple(rejected), misclassified)
    _log(result)
    return result


def cache_kind(info: ModuleInfo, kind: Kind, config: PABConfig) -> tuple[Kind | None, str]:
    """The kind whose schedule caches a site of structural `kind`, and why."""
    if config.classification == "diffusers":
        return diffusers_kind(info, config, kind)
    if kind in config.rules():
        return kind, f"{kind}_skip={getattr(config, f'{kind}_skip')}"
    return None, f"not cached: {kind}_skip is None"


def diffusers_kind(info: ModuleInfo, config: PABConfig, graph_kind: Kind) -> tuple[Kind | None, str]:
    """diffusers' `_apply_pyramid_attention_broadcast_on_attention_class`, rule for rule.

    Identifiers are searched anywhere in the module name (unanchored `re.search`) and spatial is
    tested before temporal, so `temporal_transformer_blocks.0.attn1` matches spatial's "blocks".
    """
    if not issubclass(info.cls, diffusers_attention_classes()):
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
