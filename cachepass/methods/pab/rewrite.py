"""PAB's rewrite stage: one variant per set of reused kinds, built with the core's cache read/write points
(compiler/editing.py): the reused kinds' outputs become `cache_read__` placeholders, the computed ones
are returned as `cache_write__` outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from torch import fx

from ...compiler.attention import TagResult
from ...compiler.capture import CapturedGraph
from ...compiler.editing import CacheSlot, append_writes, insert_reads, cache_slots, check_attention_removed, copy_graph, eliminate_dead_code, rebuild_sizes
from ...integrations.dynamo_meta import variant_module
from .plan import VariantKey, variant_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    key: VariantKey  # the kinds read from the cache
    gm: fx.GraphModule
    reads: tuple[CacheSlot, ...]  # extra placeholders, after the original inputs
    writes: tuple[CacheSlot, ...]  # extra outputs, after the original outputs
    example_inputs: tuple[Any, ...]  # fake values for every placeholder
    nodes_removed: int  # graph nodes eliminated by reading the cache

    @property
    def name(self) -> str:
        return variant_name(self.key)


def build_variant(captured: CapturedGraph, tags: TagResult, reuse: VariantKey) -> Variant:
    graph = copy_graph(captured.gm.graph)
    nodes = {node.name: node for node in graph.nodes}
    slots = cache_slots(tags.sites)
    reads = tuple(s for site in tags.cached_sites if site.cache_kind in reuse for s in slots[site.name])
    writes = tuple(s for site in tags.cached_sites if site.cache_kind not in reuse for s in slots[site.name])

    placeholders = insert_reads(graph, nodes, reads)
    rebuild_sizes(graph, nodes, [s for s in tags.cached_sites if s.cache_kind in reuse], placeholders)
    append_writes(graph, nodes, writes)
    before = len(graph.nodes)
    eliminate_dead_code(graph)
    graph.lint()
    check_attention_removed(graph, [s for s in tags.cached_sites if s.cache_kind in reuse], variant_name(reuse))

    gm = variant_module(captured.gm, graph, f"Variant_{variant_name(reuse).replace('-', '_')}")
    example_inputs = (*captured.example_inputs(), *(placeholders[s.node].meta["example_value"] for s in reads))
    variant = Variant(reuse, gm, reads, writes, example_inputs, before - len(graph.nodes))
    logger.debug("rewrite: variant %s reads %d and writes %d cache tensors, removed %d nodes",
                 variant.name, len(reads), len(writes), variant.nodes_removed)
    return variant
