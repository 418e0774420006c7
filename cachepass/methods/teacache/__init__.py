"""TeaCache as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin): a
data-dependent whole-stack skip decided before any block runs.

    capture -> tag (the family's coefficients, the block stack, the indicator and the cut before it) -> plan
    (the authors' accumulated rescaled relative-L1 rule) -> dispatch (head piece, one host read of its probe,
    the compute or skip tail; pieces rewritten and compiled on first use)

`torch.compile(model, backend="cachepass", options={"cache": cachepass.TeaCacheConfig(threshold=...)})`.
See docs/methods.md, "TeaCache".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...compiler.capture import CapturedGraph
from ...errors import ConfigError
from ...options import BackendOptions
from ..plugin import (Flag, MethodPlugin, TuneSeen, TuneSpace, Uncached, block_graph_calibration_error,
                      check_block_graph)
from .config import TeaCacheConfig
from .plan import TeaPlan
from .tag import TeaBlockTags, TeaTags, tag_tea_block_graph, tag_teacache

__all__ = ["PLUGIN", "TeaCacheConfig", "TeaPlan", "from_diffusers"]


def from_diffusers(cfg: Any) -> TeaCacheConfig:
    """diffusers ships no TeaCache config (PR #12652 is open): nothing to convert."""
    raise ConfigError(f"cachepass TeaCache has no diffusers config to convert ({type(cfg).__name__}); pass "
                      f"cachepass.TeaCacheConfig(threshold=...).")


class TeaCachePlugin(MethodPlugin):
    """TeaCache's stages and tool hooks (plugin.MethodPlugin)."""

    from_diffusers = staticmethod(from_diffusers)
    bench_label = "TeaCache"
    calibrated_skip = True  # a calibrator may predict its residuals (runtime/pieces.py)

    def tune_space(self, seen: TuneSeen) -> TuneSpace:
        """The threshold over the authors' range (LTX 0.03 to Flux 0.8) and two steps past it, with coefficients
        fitted on the model from one calibration run (`calibrate=True`; so any model tunes, not only the published
        families), the family's step rules, the step counter wrapping at the generation's calls."""
        values = (0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.6, 0.8, 1.2, 1.6)
        return TuneSpace("threshold", values, calibrate=TeaCacheConfig(threshold=1.0, calibrate=True,
                                                                       num_inference_steps=seen.calls))

    def calibrated(self, space: TuneSpace, graphs: list[Any]) -> TeaCacheConfig:
        """The last finished calibration's coefficients (a generation ends at its last step or at the tuner's
        end-of-generation call) in the calibration config, calibrating no more."""
        fits = [c for graph in graphs for c in graph.report().calibrations]
        if not fits:
            raise ConfigError("TeaCache's calibration run measured no (indicator change, output change) pairs: the "
                              "model's calls never compared two steps' indicators; tune another method or check that "
                              "generate runs the model it is given for more than one step.")
        if fits[-1].coefficients is None:
            raise ConfigError(f"TeaCache's calibration run measured {len(fits[-1].x)} pair(s) and no rescaling "
                              f"polynomial positive on them (the output's change: {list(fits[-1].y)}); tune another "
                              f"method on this model.")
        return dataclasses.replace(space.calibrate, calibrate=False, coefficients=fits[-1].coefficients)

    def tag(self, captured: CapturedGraph, config: TeaCacheConfig) -> TeaTags | TeaBlockTags:
        if captured.prefix:  # a graph of one block: regional compilation (regional.py)
            if config.calibrate:
                raise block_graph_calibration_error(
                    captured.prefix, "TeaCache", "the fit pairs the indicator's change with the model output's, "
                    "which no block graph sees", "TeaCacheConfig(threshold=..., calibrate=True)", "coefficients")
            return tag_tea_block_graph(captured, config)
        return tag_teacache(captured, config)  # a ConfigError names the fix (coefficients, indicator, blocks)

    def check(self, captured: CapturedGraph, tags: TeaTags | TeaBlockTags, config: TeaCacheConfig) -> Uncached | None:
        return check_block_graph(captured, tags.streams, "TeaCache") if isinstance(tags, TeaBlockTags) else None

    def plan(self, tags: TeaTags | TeaBlockTags, config: TeaCacheConfig) -> TeaPlan:
        return TeaPlan(config.threshold, config.num_inference_steps, tags.settings, config.calibrate)

    def runtime(self, captured: CapturedGraph, tags: TeaTags | TeaBlockTags, plan: TeaPlan,
                options: BackendOptions) -> Any:
        if isinstance(tags, TeaBlockTags):
            from .regional import TeaStackGraph

            return TeaStackGraph(captured, tags, plan, options)
        from .dispatch import TeaCacheGraph

        return TeaCacheGraph(captured, tags, plan, options)

    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for TeaCache: the block stack and indicator, the rule, every piece."""
        from ...dump import MethodDump, piece_table, stack_dump_files
        from .report import block_report
        from .rewrite import PIECES

        tags, settings = graph.tags, graph.tags.settings
        blocks = block_report(tags)
        lowered = [graph.compiled(key) for key in PIECES]
        pieces = piece_table(lowered)
        plan = (f"threshold {graph.plan.threshold:g}, {graph.plan.num_steps} steps; steps < {settings.retention_steps} "
                f"and the last {settings.cutoff_steps} compute.\nOtherwise acc += polyval({list(settings.coefficients)}, "
                f"mean|m - m_prev| / mean|m_prev|), m = {tags.indicator};\nacc < threshold skips the whole stack, else "
                f"it runs and acc = 0. Coefficients: {settings.source}.\nEach step runs the head (`head` without m_prev, "
                f"`head+compare` with it), reads its probe once, then one tail.\n\n{pieces}")
        summary = [f"model: {type(demo.module).__name__}", f"config: {graph.config.describe()}",
                   f"captured graph: {len(graph.captured.gm.graph.nodes)} nodes",
                   f"block stack: {len(tags.stack.blocks)} blocks in {', '.join(tags.stack.lists)}; head piece "
                   f"{len(tags.head_nodes)} nodes, {len(tags.crossing)} values handed to the tail",
                   f"indicator: {tags.indicator} ({tags.found_by})", "pieces:"]
        summary += [f"  {low.variant.name}: {len(low.variant.gm.graph.nodes)} graph nodes" for low in lowered]
        files = stack_dump_files(summary, graph.captured, blocks, plan, lowered)
        return MethodDump(files, blocks, plan)

    def flags(self) -> tuple[Flag, ...]:
        return (Flag("--threshold", "the accumulated rescaled change bound (default: 0.25, the authors' Flux 1.5x "
                     "setting)", (("type", float), ("default", None))),
                Flag("--coefficients", "TeaCache: the rescaling polynomial, highest power first (default: the "
                     "family's published one)", (("type", float), ("nargs", "+"), ("default", None))))

    def config_from_flags(self, flags: dict[str, Any]) -> TeaCacheConfig:
        threshold = 0.25 if flags["threshold"] is None else flags["threshold"]
        coefficients = flags.get("coefficients")
        return TeaCacheConfig(threshold=threshold, num_inference_steps=flags["steps"],
                              coefficients=tuple(coefficients) if coefficients else None)

    def bench_config(self, fields: dict[str, Any]) -> TeaCacheConfig:
        """diffusers has no TeaCache hook: the bench's config is cachepass's own, from the workload's fields."""
        return TeaCacheConfig(**fields)


PLUGIN = TeaCachePlugin()
