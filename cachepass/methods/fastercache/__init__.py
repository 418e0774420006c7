"""FasterCache as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin).

    capture (full graph + nested half-batch capture) -> tag -> check -> plan -> (rewrite -> lower, per
    variant on first use) -> dispatch (dispatch.py runs the call: placement.py, state.py, frequency.py,
    inputs.py; report.py reports)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with a diffusers `FasterCacheConfig`
or a `cachepass.FCConfig` reaches these stages through `backend.compile_with_cache`. See docs/methods.md,
"FasterCache".
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import fx

from ...compiler.attention import NAME_PATTERNS
from ...errors import ConfigError
from ...integrations.scope import refuse_block_graph
from ...options import BackendOptions
from ..plugin import CLASSIFICATION, Flag, MethodPlugin, Uncached
from .capture import FCCapture, capture_fastercache
from .config import FCConfig, from_diffusers
from .dispatch import FasterCacheGraph
from .plan import FCPlan, VariantKey, make_plan
from .tag import FCTags, tag_fastercache

logger = logging.getLogger(__name__)

__all__ = ["PLUGIN", "FCConfig", "FCPlan", "FasterCacheGraph", "VariantKey", "from_diffusers"]


@dataclass(frozen=True)
class FCTagged:
    """The tags of both captured graphs; `capture` loses its half graph when the two disagree."""

    capture: FCCapture
    tags: FCTags
    half_tags: FCTags | None


def _check_twins(captured: FCCapture, tags: FCTags, half_tags: FCTags | None) -> tuple[FCCapture, FCTags | None]:
    """The half graph must have the same cached attention outputs as the full graph, in the same order."""
    if half_tags is None:
        return captured, None
    full_slots = [(s.ident, s.kind) for s in tags.slots]
    half_slots = [(s.ident, s.kind) for s in half_tags.slots]
    if full_slots == half_slots:
        return captured, half_tags
    reason = f"the half-batch graph tags other attention outputs ({half_slots}) than the full graph ({full_slots})"
    logger.warning("cachepass FasterCache: %s; the unconditional branch cannot be skipped", reason)
    return dataclasses.replace(captured, half=None, half_reason=reason), None


class FasterCachePlugin(MethodPlugin):
    """FasterCache's stages and tool hooks (plugin.MethodPlugin)."""

    from_diffusers = staticmethod(from_diffusers)
    bench_label = "FasterCache"
    dump_example = "cogvideox --method fastercache --steps 20 --out dump-fc"
    config_example = '{"uncond_skip": 5, "spatial_timesteps": [-1, 681]} (FCConfig)'
    cfg_skip = True  # its CFG skip wraps an inner cache (cfg_skip.py)

    def cfg_skip_problem(self, config: FCConfig) -> str | None:
        from .cfg_skip import cfg_skip_problem

        return cfg_skip_problem(config)

    def cfg_skip_rows(self, gm: fx.GraphModule, example_inputs: Sequence[Any], config: FCConfig) -> Any:
        from .cfg_skip import CFGRows

        captured = capture_fastercache(gm, example_inputs, config)
        if config.current_timestep_callback is None and not captured.full.has_timestep:
            raise ConfigError("cachepass FasterCache reads the current timestep from the model's `timestep` tensor "
                              "input, but this graph has none. Pass the timestep as a tensor, or give the config a "
                              "current_timestep_callback.")
        return CFGRows(captured)

    def cfg_skip_runtime(self, rows: Any, full: Any, half: Any, options: BackendOptions) -> Any:
        from .cfg_skip import CFGSkipGraph

        return CFGSkipGraph(rows, full, half, options)

    def capture(self, gm: fx.GraphModule, example_inputs: Sequence[Any], config: FCConfig) -> FCCapture:
        return capture_fastercache(gm, example_inputs, config)

    def plain(self, captured: FCCapture) -> Any:
        return captured.full

    def tag(self, captured: FCCapture, config: FCConfig) -> FCTagged:
        tags = tag_fastercache(captured.full, config)
        half_tags = tag_fastercache(captured.half.captured, config) if captured.half else None
        captured, half_tags = _check_twins(captured, tags, half_tags)
        return FCTagged(captured, tags, half_tags)

    def check(self, captured: FCCapture, tagged: FCTagged, config: FCConfig) -> Uncached | None:
        if not config.guidance_distilled:
            refuse_block_graph(captured.full, "FasterCache", "skipping the unconditional branch acts on the whole model's "
                                                             "output (a guidance-distilled model: is_guidance_distilled=True)")
        if config.current_timestep_callback is None and not captured.full.has_timestep:
            raise ConfigError(
                "cachepass FasterCache reads the current timestep from the model's `timestep` tensor input, but this "
                "graph has none (a Python number passed as timestep is baked into the graph as a constant). Pass the "
                "timestep as a tensor, or give the config a current_timestep_callback.")
        if config.guidance_distilled and not tagged.tags.cached_sites:
            return Uncached("no cacheable attention",
                            f"cachepass: FasterCache found no attention to extrapolate in this graph "
                            f"({len(tagged.tags.result.sites)} attention sites) and the model is guidance-distilled; "
                            f"compiling it without caching. Set TORCH_LOGS='+cachepass' to see why.",
                            quiet=bool(captured.full.prefix) and not tagged.tags.result.sites)
        return None

    def name_patterns(self, config: FCConfig) -> tuple[str, ...]:
        identifiers = ([*config.spatial_identifiers, *config.temporal_identifiers]
                       if config.classification == "diffusers" else [])
        return (*NAME_PATTERNS, *identifiers)

    def plan(self, tagged: FCTagged, config: FCConfig) -> FCPlan:
        return make_plan(tagged.tags.kinds_present(), config)

    def runtime(self, captured: FCCapture, tagged: FCTagged, plan: FCPlan, options: BackendOptions) -> Any:
        config: FCConfig = options.cache  # type: ignore[assignment]
        half = tagged.capture.half
        logger.info("cachepass: FasterCache on %d attention sites (%s), half-batch graph: %s; %s",
                    len(tagged.tags.cached_sites), ", ".join(sorted(tagged.tags.kinds_present())) or "none",
                    f"batch {half.batch}" if half else f"none ({tagged.capture.half_reason})", config.describe())
        return FasterCacheGraph(tagged.capture, tagged.tags, tagged.half_tags, plan, options)

    def dump_files(self, graph: FasterCacheGraph, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for FasterCache: both captured graphs, and the plan in FasterCache's terms."""
        from tabulate import tabulate

        from ...dump import DumpFile, MethodDump
        from ...timesteps import timesteps_linspace
        from ...report import tag_table

        timesteps = timesteps_linspace(steps)
        tags = tag_table(graph.tags.sites, graph.tags.rejected)
        decisions = graph.plan.simulate(timesteps)
        plan = tabulate([(d.iteration, f"{d.timestep:g}", d.call or "-", d.step_kind, d.variant.name if d.variant else "-",
                          ", ".join(sorted(d.variant.extrapolate)) if d.variant else "-",
                          "estimated" if d.skip_uncond else "computed") for d in decisions],
                        headers=("step", "timestep", "call", "step kind", "variant", "extrapolated", "uncond"))
        lowered = [graph.compiled(key) for key in graph.plan.variants(timesteps)]
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
        files = [DumpFile("summary.txt", "\n".join(summary) + "\n"),
                 DumpFile("captured-graph.py", graph.captured.gm.code)]
        if half is not None:
            files.append(DumpFile("captured-half-batch-graph.py", half.captured.gm.code))
        files += [DumpFile("tags.txt", tags + "\n"),
                  DumpFile("plan.txt", f"{len(timesteps)} steps, timesteps evenly spaced from 999 to 0\n\n{plan}\n")]
        files += [DumpFile(f"variant-{low.variant.name}.py", f"# variant {low.variant.name}\n" + low.variant.gm.code, low)
                  for low in lowered]
        return MethodDump(tuple(files), tags, plan)

    def needs_cfg_batch(self, config: FCConfig) -> bool:
        """Whether `cachepass dump` must trace a batched-CFG call ([uncond, cond]): CFG-Cache needs one."""
        return not config.guidance_distilled

    def flags(self) -> tuple[Flag, ...]:
        return (Flag("--guidance-distilled", "the model has no unconditional branch (e.g. Flux-dev)",
                     (("action", "store_true"),)), CLASSIFICATION)

    def config_from_flags(self, flags: dict[str, Any]) -> FCConfig:
        return FCConfig(guidance_distilled=flags["guidance_distilled"], classification=flags["classification"])

    def bench_config(self, fields: dict[str, Any]) -> Any:
        """`attention_weight_callback: "constant-<w>"` is the weight w for every layer and step."""
        from diffusers import FasterCacheConfig

        fields = dict(fields)
        weight = fields.pop("attention_weight_callback", None)
        if isinstance(weight, str) and weight.startswith("constant-"):
            value = float(weight.removeprefix("constant-"))
            fields["attention_weight_callback"] = lambda _module: value
        return FasterCacheConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


PLUGIN = FasterCachePlugin()
