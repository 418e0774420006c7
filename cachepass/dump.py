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

Which files a cached graph gets is the method's: `dump_files(graph, demo, steps)` in its plug-in module
(FasterCache adds its half-batch graph; FirstBlockCache writes its block stack and its pieces).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .api import compiled_graphs
from .compiler.lower import Lowered
from .methods import method_of
from .models import DemoModel
from .report import GraphReport, graph_report, tag_table
from .timesteps import timesteps_linspace


@dataclass(frozen=True)
class DumpResult:
    folder: Path
    files: tuple[Path, ...]
    report: GraphReport
    tag_table: str
    plan_table: str


@dataclass(frozen=True)
class DumpFile:
    name: str  # without the number, e.g. "captured-graph.py"
    text: str
    lowered: Lowered | None = None  # a compiled variant, drawn as SVG with --svg


@dataclass(frozen=True)
class MethodDump:
    """What a method's `dump_files(graph, demo, steps)` returns."""

    files: tuple[DumpFile, ...]
    tag_table: str  # printed by `cachepass dump`
    plan_table: str


def piece_table(lowered: list[Lowered]) -> str:
    """The compiled pieces with the cache slots each reads and writes, for a method's plan.txt."""
    from tabulate import tabulate

    rows = [(low.variant.name, ", ".join(s.read_name for s in low.variant.reads) or "-",
             ", ".join(s.write_name for s in low.variant.writes) or "-", len(low.variant.gm.graph.nodes))
            for low in lowered]
    return tabulate(rows, headers=("piece", "cache reads", "cache writes", "graph nodes"))


def stack_dump_files(summary: list[str], captured: Any, blocks: str, plan: str, lowered: list[Lowered],
                     word: str = "piece", plus: str = "+") -> tuple[DumpFile, ...]:
    """The files of a block-stack method's dump: summary, captured graph, blocks, plan, and one `<word>-<name>.py`
    per compiled piece (a '+' in its name written as `plus`)."""
    files = [DumpFile("summary.txt", "\n".join(summary) + "\n"), DumpFile("captured-graph.py", captured.gm.code),
             DumpFile("blocks.txt", blocks + "\n"), DumpFile("plan.txt", plan + "\n")]
    files += [DumpFile(f"{word}-{low.variant.name.replace('+', plus)}.py",
                       f"# {word} {low.variant.name}\n" + low.variant.gm.code, low) for low in lowered]
    return tuple(files)


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
    if not graph.cached:
        tags = tag_table(graph.tags.sites if graph.tags else (), graph.tags.rejected if graph.tags else ())
        made = MethodDump((DumpFile("summary.txt", f"model: {type(demo.module).__name__}\nNOT cached: {graph.reason}\n"),
                           DumpFile("captured-graph.py", graph.captured.gm.code), DumpFile("tags.txt", tags + "\n")),
                          tags, "")
    else:
        made = method_of(graph.options.cache).plugin.dump_files(graph, demo, steps)
    for file in made.files:
        path = writer.write(file.name, file.text)
        if svg and file.lowered is not None:
            _draw(file.lowered, path.with_suffix(".svg"))
    return DumpResult(folder, tuple(writer.files), graph_report(graph), made.tag_table, made.plan_table)


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []

    def write(self, name: str, text: str) -> Path:
        path = self.folder / f"{len(self.files):02d}-{name}"
        path.write_text(text)
        self.files.append(path)
        return path


def _draw(low: Lowered, path: Path) -> None:
    try:
        from torch.fx.passes.graph_drawer import FxGraphDrawer

        drawer = FxGraphDrawer(low.variant.gm, low.variant.name)
        path.write_bytes(drawer.get_main_dot_graph().create_svg())
    except Exception as err:  # optional: pydot or graphviz missing
        raise RuntimeError(f"--svg needs pydot and graphviz's `dot` ({type(err).__name__}: {err}); "
                           "install them or drop --svg") from err
