"""What cachepass did to a model, as data and as tables.

    print(cachepass.report(compiled_model))

The backend keeps, for every graph it compiled, the attention sites it tagged (and the nodes it
refused, with reasons), the plan, the variants it built and how long each took to compile, the
cache bytes it holds now, and the variant every step ran. `report(model)` gathers these for one
model; `cachepass dump` writes the same tables to files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate
from torch import nn

from .compiler.attention import AttentionSite, Rejection
from .integrations.scope import renamed
from .runtime.registry import graphs_of, parameter_ids


@dataclass(frozen=True)
class VariantReport:
    name: str
    reads: int  # cache tensors read
    writes: int  # cache tensors written
    nodes: int  # graph nodes left
    compile_seconds: float
    steps_run: int


def variant_reports(lowered: dict[Any, Any], ran: Sequence[str], reads_per_slot: int = 1) -> tuple[VariantReport, ...]:
    """One row per compiled variant of a runtime (`lowered`: key -> lower.Lowered); `ran` names the variant of
    every graph run (a step may run several)."""
    ran = list(ran)
    return tuple(VariantReport(low.variant.name, reads_per_slot * len(low.variant.reads), len(low.variant.writes),
                               len(low.variant.gm.graph.nodes), low.compile_seconds, ran.count(low.variant.name))
                 for low in lowered.values())


@dataclass(frozen=True)
class GraphReport:
    """One graph's report; every method words its own: `head`, `tag_table` (what it caches), `step_table`,
    `step_parts` and `notes` (methods/<name>/: the subclass its runtime's `report` returns)."""

    serial: int
    cached: bool
    reason: str  # why the graph is not cached, or the config used
    graph_nodes: int
    variants: tuple[VariantReport, ...]
    cache_bytes: int  # bytes held now by the caches of the reported model
    steps: tuple[Any, ...]  # the reported model's steps (the method's step records), oldest first
    plan: Any

    def head(self) -> str:
        """The report's first line: what the graph is and what its cache holds."""
        return f"graph {self.serial}: {'cached' if self.cached else 'NOT cached'} ({self.reason}), " \
               f"{self.graph_nodes} nodes, cache holds {self.cache_bytes:,} bytes"

    def cached_head(self, extra: str = "") -> str:
        """`head` for a cached graph: `extra` follows the node count (e.g. ", 4 blocks")."""
        return f"graph {self.serial}: {self.reason}, {self.graph_nodes} nodes{extra}; cache holds " \
               f"{self.cache_bytes:,} bytes now"

    @property
    def pattern(self) -> str:
        """The steps as one letter each: C computed, R reused (step records with `compute`)."""
        return "".join("C" if r.compute else "R" for r in self.steps)

    def tag_table(self, fmt: str = "simple") -> str:
        """What the tag stage found, as the method sees it."""
        raise NotImplementedError

    def step_table(self, fmt: str = "simple") -> str:
        raise NotImplementedError

    def variant_table(self, fmt: str = "simple") -> str:
        rows = [(v.name, v.reads, v.writes, v.nodes, f"{v.compile_seconds:.2f}", v.steps_run) for v in self.variants]
        return tabulate(rows, headers=("variant", "cache reads", "cache writes", "graph nodes", "compile s", "steps"),
                        tablefmt=fmt)

    def step_parts(self) -> list[str]:
        """What the report says of the steps that ran (there are some)."""
        return [self.step_table()]

    def notes(self) -> list[str]:
        """What the method adds after the tables."""
        return []

    def __str__(self) -> str:
        """Every method's report has this shape; a method words its own `head`, tables, `step_parts`, `notes`."""
        parts = [self.head(), self.tag_table()]
        if self.variants:
            parts.append(self.variant_table())
        if self.steps:
            parts += self.step_parts()
        return "\n\n".join(parts + self.notes())


@dataclass(frozen=True)
class AttentionReport(GraphReport):
    """The report of a graph whose tag stage found attention sites (compiler/attention.py): an uncached graph,
    PAB's and FasterCache's."""

    sites: tuple[AttentionSite, ...] = field(default=(), kw_only=True)
    rejected: tuple[Rejection, ...] = field(default=(), kw_only=True)

    def head(self) -> str:
        return f"graph {self.serial}: {'cached' if self.cached else 'NOT cached'} ({self.reason}), " \
               f"{self.graph_nodes} nodes, {len(self.sites)} attention sites, cache holds {self.cache_bytes:,} bytes"

    def tag_table(self, fmt: str = "simple") -> str:
        return tag_table(self.sites, self.rejected, fmt)


@dataclass(frozen=True)
class Report:
    graphs: tuple[GraphReport, ...]

    def __str__(self) -> str:
        if not self.graphs:
            return "cachepass: no graph has run for this model yet"
        return "\n\n".join(str(g) for g in self.graphs)


def report(model: nn.Module) -> Report:
    """The report of every cachepass graph that has run for `model` (compiled or original module)."""
    owners = parameter_ids(model)
    return Report(tuple(graph_report(g, owners) for g in graphs_of(model)))


def graph_report(graph: Any, owners: set[int] | None = None) -> GraphReport:
    """Every runtime graph reports itself: `report(owner_ids)` (runtime/base.py GraphRuntime and runtime/uncached.py UncachedGraph). A
    graph of one block (scope.py) lists its layers once per instance that ran it, as the whole model would."""
    reported = graph.report(owners)
    paths, lead = graph.instance_paths(owners), graph.captured.prefix
    if not paths or not lead or not isinstance(reported, AttentionReport):
        return reported
    sites = tuple(dataclasses.replace(site, name=renamed(site.name, lead, path)) for path in paths
                  for site in reported.sites)
    rejected = tuple(dataclasses.replace(r, where=renamed(r.where, lead, path)) for path in paths
                     for r in reported.rejected)
    return dataclasses.replace(reported, sites=sites, rejected=rejected)


def tag_table(sites: Sequence[AttentionSite], rejected: Sequence[Rejection] = (), fmt: str = "simple") -> str:
    rows = [(s.name, s.module_class.rsplit(".", 1)[-1], s.kind, s.cache_kind or "-", s.kind_reason, s.cache_reason,
             len(s.region), len(s.outputs), s.cache_bytes if s.cached else 0) for s in sites]
    rows += [(r.where, "-", "NOT tagged", "-", r.reason, "-", 0, 0, 0) for r in rejected]
    return tabulate(rows, headers=("module", "class", "kind", "cached as", "kind decided by", "cache decided by",
                                   "region nodes", "outputs", "bytes cached"), tablefmt=fmt)


def schedule_line(steps: Sequence[Any]) -> str:
    """A compact per-step picture of step records: C = computed, R = something reused."""
    return "".join("R" if s.reused else "C" for s in steps)

