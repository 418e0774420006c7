"""TaylorSeer stage 2, tag: the modules whose outputs are predicted, by diffusers' name rule.

A module is *active* (Taylor factors) when its `named_modules()` name `re.fullmatch`es an active pattern,
*inactive* (zeros on predicted steps) when it matches an inactive one (inactive wins, as in diffusers).
Its region and outputs are found as for attention sites (compiler/attention.py): the nodes called from inside it, and
those used outside. Nested matches are refused: diffusers would hook both, and the inner module's step
counter would stop whenever the outer one predicts.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ...compiler.capture import CapturedGraph
from ...compiler.regions import TensorSpec, is_size_expression, module_regions, tensor_spec
from ...errors import ConfigError
from ...integrations.scope import refuse_block_graph
from .config import TSConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TSSite:
    name: str
    module_class: str
    inactive: bool
    pattern: str  # the pattern that matched
    region: tuple[str, ...]
    outputs: tuple[str, ...]
    output_specs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class TSTags:
    sites: tuple[TSSite, ...]
    patterns: tuple[tuple[str, ...], tuple[str, ...]]  # (inactive, active) as resolved
    names_seen: int  # modules the graph calls

    @property
    def active(self) -> tuple[TSSite, ...]:
        return tuple(s for s in self.sites if not s.inactive)


def tag_modules(captured: CapturedGraph, config: TSConfig) -> TSTags:
    inactive, active = config.patterns()
    regions = module_regions(captured.gm.graph)
    matched = []
    for key, info in captured.modules.items():
        if key not in regions or not info.name:
            continue
        hit_inactive = next((p for p in inactive if re.fullmatch(p, info.name)), None)
        hit_active = next((p for p in active if re.fullmatch(p, info.name)), None)
        if hit_inactive is None and hit_active is None:
            continue
        if info.call > 0:
            raise ConfigError(f"cachepass TaylorSeer: {info.name} is called more than once per forward; diffusers' "
                              f"hook would count each call as a step. Leave it out of the identifiers.")
        matched.append((info, hit_inactive is not None, hit_inactive or hit_active))
    # A graph of one block (regional compilation) keeps a state per instance (NOTE [TaylorSeer on block graphs],
    # dispatch.py); lite mode predicts proj_out, which runs outside every block graph. A lone submodule compiled
    # on its own after a break inside its call, with nothing selected in it, runs uncached (check).
    if config.use_lite_mode and captured.prefix.rsplit(".", 1)[-1].isdigit():
        refuse_block_graph(captured, "TaylorSeer", "lite mode predicts proj_out, which runs outside the block "
                                                   "graphs (uncompiled), so its blocks would only return zeros")
    names = [info.name for info, _, _ in matched]
    nested = sorted({inner for inner in names for outer in names if inner.startswith(outer + ".")})
    if nested:
        raise ConfigError(f"cachepass TaylorSeer: the identifiers select {nested}, nested inside other selected "
                          f"modules; diffusers' hook would stop their step counters whenever the outer module "
                          f"predicts. Select either the outer or the inner modules.")
    order = {n: i for i, n in enumerate(captured.gm.graph.nodes)}
    sites = []
    for info, is_inactive, pattern in sorted(matched, key=lambda m: order[regions[m[0].key][0]]):
        region = regions[info.key]
        members = set(region)
        outputs = [n for n in region if any(u not in members for u in n.users) and not is_size_expression(n, members)]
        odd = [n.name for n in outputs if not isinstance(n.meta.get("example_value"), torch.Tensor)]
        if odd or not outputs:
            raise ConfigError(f"cachepass TaylorSeer: {info.name} hands {odd or 'nothing'} to later code; only "
                              f"modules with tensor outputs can be predicted.")
        sites.append(TSSite(info.name, f"{info.cls.__module__}.{info.cls.__qualname__}", is_inactive, pattern,
                            tuple(n.name for n in region), tuple(n.name for n in outputs),
                            tuple(tensor_spec(n.meta["example_value"]) for n in outputs)))
    tags = TSTags(tuple(sites), (inactive, active), len(captured.modules))
    for site in sites:
        logger.debug("tag: TaylorSeer %s %s (matches %r), outputs %s", "skips" if site.inactive else "predicts",
                     site.name, site.pattern, site.outputs)
    return tags


@dataclass(frozen=True)
class Suggestion:
    """A `cache_identifiers` pattern for a model's attention modules, with exactly the modules it selects."""

    pattern: str
    selects: tuple[str, ...]

    def hint(self) -> str:
        shown = list(self.selects[:4]) + (["..."] if len(self.selects) > 4 else [])
        return f"e.g. cache_identifiers=[r'{self.pattern}'], which selects the {len(self.selects)} modules {shown}"


def suggest_identifiers(names: Iterable[str]) -> Suggestion | None:
    """The pattern of the most common family of attention modules among `names` (those whose last part
    contains 'attn'), built from the names themselves -- block indices generalized to `\\d+`, the rest
    escaped -- so that, under diffusers' `re.fullmatch`, it selects exactly the modules it is shown with."""
    names = sorted(set(names))
    families = Counter(_generalized(n) for n in names if "attn" in n.rsplit(".", 1)[-1])
    if not families:
        return None
    pattern = min(families, key=lambda p: (-families[p], p))  # the largest family; ties by name, for stable text
    return Suggestion(pattern, tuple(n for n in names if re.fullmatch(pattern, n)))


def _generalized(name: str) -> str:
    """`transformer_blocks.0.attn1` -> `transformer_blocks\\.\\d+\\.attn1`."""
    return r"\.".join(r"\d+" if part.isdigit() else re.escape(part) for part in name.split("."))
