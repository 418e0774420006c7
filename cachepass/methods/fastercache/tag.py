"""FasterCache stage 2, tag: which attention sites are extrapolated, and under which kind.

Site discovery (regions, outputs, structural kind) is the core's (`compiler/attention.find_sites`); this stage only decides
FasterCache's kind for each site:

- `classification="diffusers"` (diffusers' `FasterCacheConfig`): `apply_faster_cache`'s rule, rule for
  rule (hooks/faster_cache.py:570-612): a diffusers attention class, a name matching one of the
  hard-coded anchored block identifiers, then spatial before temporal with the config's identifiers
  (`re.search`), that kind's skip range set, and not `is_cross_attention`. Modules called more than
  once per forward are refused: diffusers would share one cache between the calls;
- `classification="cachepass"`: the structural kind from the graph; spatial and temporal self
  attention are cached when their skip is set. Cross attention never is (FasterCache does not define it).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import weakref
from dataclasses import dataclass

from torch import nn

from ...compiler.attention import AttentionSite, Rejection, TagResult, diffusers_attention_classes, find_sites
from ...compiler.capture import CapturedGraph, ModuleInfo
from ...compiler.editing import CacheSlot, cache_slots
from .config import DIFFUSERS_FC_BLOCK_IDENTIFIERS, FCConfig, FCKind

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class FCTags:
    result: TagResult  # every site; `cache_kind` is FasterCache's decision (None: not extrapolated)
    slots: tuple[CacheSlot, ...]  # one per output of a cached site, in graph order
    modules: dict[str, weakref.ref | None]  # site name -> the live attention module, for attention_weight

    @property
    def cached_sites(self) -> tuple[AttentionSite, ...]:
        return self.result.cached_sites

    def kinds_present(self) -> frozenset[FCKind]:
        return frozenset(self.result.cached_kinds())  # type: ignore[arg-type]

    def module(self, site: str) -> nn.Module | None:
        ref = self.modules.get(site)
        return ref() if ref is not None else None


def tag_fastercache(captured: CapturedGraph, config: FCConfig) -> FCTags:
    found, rejected = find_sites(captured, lambda info, kind: (kind, ""))  # every site, decided below
    infos = {info.call_name: info for info in captured.modules.values()}
    repeated = {s.name.split("#")[0] for s, _ in found if "#" in s.name}
    sites = []
    for site, _ in found:
        info = infos.get(site.name)
        if config.classification == "diffusers" and site.name.split("#")[0] in repeated:
            rejected.append(Rejection(site.name, "called more than once per forward; diffusers' hook would share "
                                                 "one cache between the calls. Use cachepass.FCConfig to cache "
                                                 "each call separately"))
            continue
        if config.classification == "diffusers":
            kind, reason = diffusers_fc_kind(site, info, config)
        else:
            kind, reason = structural_fc_kind(site, config)
        sites.append(dataclasses.replace(site, cache_kind=kind, cache_reason=reason))
    misclassified = tuple(s for s in sites if s.cache_kind is not None and s.cache_kind != s.kind)
    result = TagResult(tuple(sites), tuple(rejected), misclassified)
    slots = tuple(slot for slots in cache_slots(result.sites).values() for slot in slots)
    modules = {s.name: (infos[s.name].ref if s.name in infos else None) for s in result.cached_sites}
    for site in sites:
        logger.debug("tag: %s kind=%s -> FasterCache %s [%s]", site.name, site.kind, site.cache_kind or "not cached",
                     site.cache_reason)
    for rejection in rejected:
        logger.debug("tag: NOT tagged %s: %s", rejection.where, rejection.reason)
    return FCTags(result, slots, modules)


def structural_fc_kind(site: AttentionSite, config: FCConfig) -> tuple[FCKind | None, str]:
    if site.kind == "cross":
        return None, "not cached: FasterCache extrapolates self attention only"
    skip = getattr(config, f"{site.kind}_skip")
    if skip is None:
        return None, f"not cached: {site.kind}_skip is None"
    return site.kind, f"{site.kind}_skip={skip}"  # type: ignore[return-value]


def diffusers_fc_kind(site: AttentionSite, info: ModuleInfo | None, config: FCConfig) -> tuple[FCKind | None, str]:
    """`apply_faster_cache` + `_apply_faster_cache_on_attention_class`, rule for rule."""
    name = info.name if info is not None else site.name
    cls = info.cls if info is not None else None
    if cls is None or not issubclass(cls, diffusers_attention_classes()):
        return None, "not cached: diffusers' FasterCache hooks only diffusers attention classes; use cachepass.FCConfig"
    if not any(re.search(pattern, name) for pattern in DIFFUSERS_FC_BLOCK_IDENTIFIERS):
        return None, ("not cached: the name matches none of diffusers' hard-coded block identifiers "
                      f"{DIFFUSERS_FC_BLOCK_IDENTIFIERS}; use cachepass.FCConfig")
    instance = info.instance if info is not None else None
    if instance is not None:
        is_cross, cross_from = bool(getattr(instance, "is_cross_attention", False)), "module.is_cross_attention"
    else:
        is_cross, cross_from = site.kind == "cross", "graph (module not resolvable)"
    for kind in ("spatial", "temporal"):
        hit = next((p for p in getattr(config, f"{kind}_identifiers") if re.search(p, name)), None)
        if hit is not None and getattr(config, f"{kind}_skip") is not None and not is_cross:
            return kind, f"diffusers rule: name matches {hit!r}, {cross_from}={is_cross}"  # type: ignore[return-value]
    return None, f"not cached: diffusers rule matches no configured kind ({cross_from}={is_cross})"
