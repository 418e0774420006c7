"""`cachepass dump`: trace a model with the cachepass backend and write what it did to a folder.

Files are numbered and named only from the model and the plan (no ids, no timings, no paths), so two
dumps of the same model and config are byte-identical, across runs and processes:

    00-summary.txt            model, config, graph size, sites per kind, variants and their steps
    01-captured-graph.py      the graph Dynamo captured
    02-tags.txt               every attention site (and every refused one, with the reason)
    03-plan.txt               each step of the schedule: timestep, variant, layers computed / reused
    04-variant-compute.py     each variant's rewritten graph, in order of first use
    05-variant-reuse-....py
    (with --svg, an .svg drawing next to each variant, when pydot and graphviz are installed)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from .api import compiled_graphs
from .config import describe
from .dispatch import CachedGraph
from .fastercache.dispatch import FasterCacheGraph
from .lower import Lowered
from .models import DemoModel
from .plan import timesteps_linspace
from .report import GraphReport, graph_report, plan_table, tag_table


@dataclass(frozen=True)
class DumpResult:
    folder: Path
    files: tuple[Path, ...]
    report: GraphReport
    tag_table: str
    plan_table: str


def dump(demo: DemoModel, options: dict[str, Any], steps: int, folder: Path, svg: bool = False,
         batch: int | None = None) -> DumpResult:
    compiled = torch.compile(demo.module, backend="cachepass", fullgraph=True, options=options)
    with torch.no_grad():
        demo(compiled, timesteps_linspace(steps)[0], batch)
    graph = compiled_graphs(compiled)[-1]
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("[0-9][0-9]-*"):
        stale.unlink()
    writer = _Writer(folder)
    tags = tag_table(graph.tags.sites if graph.tags else (), graph.tags.rejected if graph.tags else ())
    if isinstance(graph, FasterCacheGraph):
        return _dump_fastercache(demo, graph, steps, writer, tags, svg)
    if not isinstance(graph, CachedGraph):
        writer.write("summary.txt", f"model: {type(demo.module).__name__}\nNOT cached: {graph.reason}\n")
        writer.write("captured-graph.py", graph.captured.gm.code)
        writer.write("tags.txt", tags + "\n")
        return DumpResult(folder, tuple(writer.files), graph_report(graph), tags, "")

    timesteps = timesteps_linspace(steps)
    plan = plan_table(graph.plan, graph.tags.sites, timesteps)
    lowered = [graph.variant(key) for key in graph.plan.variants(timesteps)]
    writer.write("summary.txt", _summary(demo, graph, timesteps, lowered))
    writer.write("captured-graph.py", graph.captured.gm.code)
    writer.write("tags.txt", tags + "\n")
    writer.write("plan.txt", f"{len(timesteps)} steps, timesteps evenly spaced from 999 to 0\n\n{plan}\n")
    for low in lowered:
        path = writer.write(f"variant-{low.variant.name}.py", _variant_code(low))
        if svg:
            _draw(low, path.with_suffix(".svg"))
    return DumpResult(folder, tuple(writer.files), graph_report(graph), tags, plan)


def _dump_fastercache(demo: DemoModel, graph: FasterCacheGraph, steps: int, writer: _Writer, tags: str,
                      svg: bool) -> DumpResult:
    """The same files for FasterCache: both captured graphs, and the plan in FasterCache's terms."""
    timesteps = timesteps_linspace(steps)
    decisions = graph.plan.simulate(timesteps)
    plan = tabulate([(d.iteration, f"{d.timestep:g}", d.call or "-", d.step_kind, d.variant.name if d.variant else "-",
                      ", ".join(sorted(d.variant.extrapolate)) if d.variant else "-",
                      "estimated" if d.skip_uncond else "computed") for d in decisions],
                    headers=("step", "timestep", "call", "step kind", "variant", "extrapolated", "uncond"))
    lowered = [graph.variant(key) for key in graph.plan.variants(timesteps)]
    half = graph.fc.half
    used = Counter(d.variant.name for d in decisions if d.variant is not None)
    summary = [f"model: {type(demo.module).__name__}",
               f"config: {graph.config.describe()}",
               f"mode: {decisions[0].mode}",
               f"captured graphs: full batch, {len(graph.captured.gm.graph.nodes)} nodes; half batch: "
               + (f"batch {half.batch}, {len(half.captured.gm.graph.nodes)} nodes" if half else
                  f"none ({graph.fc.half_reason})"),
               f"attention sites: {len(graph.tags.sites)} tagged, {len(graph.fc_tags.cached_sites)} extrapolated "
               f"({', '.join(sorted(graph.fc_tags.kinds_present())) or 'none'})",
               f"schedule: {len(timesteps)} steps, {sum(d.skip_uncond for d in decisions)} skip the unconditional "
               f"branch, {sum(bool(d.variant and d.variant.extrapolate) for d in decisions)} extrapolate attention",
               "variants, in order of first use:"]
    summary += [f"  {low.variant.name}: {used[low.variant.name]} steps, {len(low.variant.gm.graph.nodes)} graph nodes"
                for low in lowered]
    writer.write("summary.txt", "\n".join(summary) + "\n")
    writer.write("captured-graph.py", graph.captured.gm.code)
    if half is not None:
        writer.write("captured-half-batch-graph.py", half.captured.gm.code)
    writer.write("tags.txt", tags + "\n")
    writer.write("plan.txt", f"{len(timesteps)} steps, timesteps evenly spaced from 999 to 0\n\n{plan}\n")
    for low in lowered:
        path = writer.write(f"variant-{low.variant.name}.py", f"# variant {low.variant.name}\n" + low.variant.gm.code)
        if svg:
            _draw(low, path.with_suffix(".svg"))
    return DumpResult(writer.folder, tuple(writer.files), graph.report(), tags, plan)


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []

    def write(self, name: str, text: str) -> Path:
        path = self.folder / f"{len(self.files):02d}-{name}"
        path.write_text(text)
        self.files.append(path)
        return path


def _summary(demo: DemoModel, graph: CachedGraph, timesteps: list[float], lowered: list[Lowered]) -> str:
    sites = graph.tags.sites
    cached = [s for s in sites if s.cached]
    by_kind = Counter(s.cache_kind for s in cached)
    decisions = graph.plan.simulate(timesteps)
    used = Counter(d.variant for d in decisions)
    lines = [
        f"model: {type(demo.module).__name__}",
        f"config: {describe(graph.options.cache)}",
        f"captured graph: {len(graph.captured.gm.graph.nodes)} nodes, {len(graph.captured.inputs)} inputs "
        f"({len(graph.captured.inputs_with_role('parameter', 'buffer'))} parameters and buffers)",
        f"timestep read from: {_timestep_source(graph)}",
        f"attention sites: {len(sites)} tagged, {len(cached)} cached "
        f"({', '.join(f'{n} {k}' for k, n in sorted(by_kind.items()))}), {len(graph.tags.rejected)} refused",
        f"cache held per generation: {sum(s.cache_bytes for s in cached):,} bytes at the traced input size",
        f"schedule: {len(timesteps)} steps, {sum(1 for d in decisions if d.reuse)} reuse at least one kind",
        "variants, in order of first use:",
    ]
    if graph.options.cache.classification == "diffusers":
        lines.insert(5, f"layers diffusers' rule files under another kind than the graph shows: "
                        f"{', '.join(s.name for s in graph.tags.misclassified) or 'none'}")
    for low in lowered:
        variant = low.variant
        lines.append(f"  {variant.name}: {used[variant.name]} steps, reads {len(variant.reads)} / writes "
                     f"{len(variant.writes)} cache tensors, {len(variant.gm.graph.nodes)} graph nodes")
    return "\n".join(lines) + "\n"


def _timestep_source(graph: CachedGraph) -> str:
    if graph.options.cache.current_timestep_callback is not None:
        return "current_timestep_callback()"
    return graph.captured.inputs[graph.captured.timestep_input].source


def _variant_code(low: Lowered) -> str:
    variant = low.variant
    header = [f"# variant {variant.name}",
              f"# reads  {len(variant.reads)} cache tensors: {', '.join(s.read_name for s in variant.reads) or '-'}",
              f"# writes {len(variant.writes)} cache tensors: {', '.join(s.write_name for s in variant.writes) or '-'}",
              f"# {len(variant.gm.graph.nodes)} graph nodes"]
    return "\n".join(header) + "\n" + variant.gm.code


def _draw(low: Lowered, path: Path) -> None:
    try:
        from torch.fx.passes.graph_drawer import FxGraphDrawer

        drawer = FxGraphDrawer(low.variant.gm, low.variant.name)
        path.write_bytes(drawer.get_main_dot_graph().create_svg())
    except Exception as err:  # optional: pydot or graphviz missing
        raise RuntimeError(f"--svg needs pydot and graphviz's `dot` ({type(err).__name__}: {err}); "
                           "install them or drop --svg") from err
