"""MagCache as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin): a step-only schedule on the block stack.

    capture -> tag (the block stack, as FirstBlockCache finds it) -> plan (diffusers' accumulated
    ratio / error rule, from the step index alone) -> dispatch (compute or skip; variants rewritten and
    compiled on first use)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with diffusers' `MagCacheConfig` or
`cachepass.MagConfig`. See docs/methods.md, "MagCache".
"""

from __future__ import annotations

from typing import Any


from ...compiler.blocks import BlockGraphStreams, BlockStack, StackUser, tag_block_graph, tag_blocks
from ...compiler.capture import CapturedGraph
from ...options import BackendOptions
from ...errors import ConfigError
from ..plugin import (Flag, MethodPlugin, TuneSeen, TuneSpace, Uncached, block_graph_calibration_error,
                      check_block_graph)
from .config import MagConfig, from_diffusers
from .plan import MagPlan

__all__ = ["PLUGIN", "MagConfig", "MagPlan", "from_diffusers"]

# The block stack's errors and logs, in this method's words.
STACK_USER = StackUser("MagCache", "MagConfig", "PAB, which caches attention layers", "the whole block stack")


class MagCachePlugin(MethodPlugin):
    """MagCache's stages and tool hooks (plugin.MethodPlugin)."""

    calibrated_skip = True  # a calibrator may predict its residual (runtime/calibrated.py)
    calibrated_hidden_only = True  # the only residual it reuses is the hidden stream's

    from_diffusers = staticmethod(from_diffusers)
    bench_label = "MagCache"
    bench_probe = "last block"
    dump_example = "cogvideox --method magcache --steps 28 --out dump-mag"

    def tune_space(self, seen: TuneSeen) -> TuneSpace:
        """The threshold over the model's own ratios: one calibration run measures them (as `calibrate=True`
        does for a user), so the schedule is the model's, not Flux's; crossed with the skips allowed in a row
        (around diffusers' 3) and the retention (diffusers' 0.2, and half of it: more steps may skip)."""
        return TuneSpace("threshold", (0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.36, 0.5, 0.75, 1.0),
                         calibrate=MagConfig(calibrate=True, num_inference_steps=seen.calls),
                         grid=(("max_skip_steps", (2, 4)), ("retention_ratio", (0.1, 0.2))))

    def calibrated(self, space: TuneSpace, graphs: list[Any]) -> MagConfig:
        """The last finished calibration of the run's graphs (a generation ends at its last step or at the
        tuner's end-of-generation call), its length the steps of one generation."""
        ratios = [c for graph in graphs for c in graph.report().calibrations]
        if not ratios:
            raise ConfigError("MagCache's calibration run measured no ratios: the model's calls never reached the "
                              "block stack's compute step; tune another method or check that generate runs "
                              "the model it is given.")
        return MagConfig(mag_ratios=ratios[-1], num_inference_steps=len(ratios[-1]))

    def tag(self, captured: CapturedGraph, config: MagConfig) -> BlockStack | BlockGraphStreams:
        if captured.prefix:  # a graph of one block: regional compilation (regional.py)
            if config.calibrate:
                raise block_graph_calibration_error(
                    captured.prefix, "MagCache", "the calibration ratio compares residuals spanning every block graph",
                    "MagConfig(calibrate=True)", "mag_ratios")
            return tag_block_graph(captured, config, STACK_USER)
        return tag_blocks(captured, config, STACK_USER)  # a ConfigError names the fix when there is no block stack

    def check(self, captured: CapturedGraph, tags: BlockStack | BlockGraphStreams, config: MagConfig) -> Uncached | None:
        return check_block_graph(captured, tags, "MagCache")

    def plan(self, stack: BlockStack | BlockGraphStreams, config: MagConfig) -> MagPlan:
        return MagPlan(config)

    def runtime(self, captured: CapturedGraph, stack: BlockStack | BlockGraphStreams, plan: MagPlan,
                options: BackendOptions) -> Any:
        if isinstance(stack, BlockGraphStreams):
            from .regional import MagStackGraph

            return MagStackGraph(captured, stack, plan, options)
        from .dispatch import MagCacheGraph

        return MagCacheGraph(captured, stack, plan, options)

    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for MagCache: the block stack, the schedule of one generation, the variants."""
        from tabulate import tabulate

        from ...dump import MethodDump, stack_dump_files
        from .report import block_report

        blocks = block_report(graph.stack)
        decisions = graph.plan.simulate()
        plan = tabulate([(d.step_index, f"{d.error:.4g}", d.variant) for d in decisions],
                        headers=("step", "accumulated error", "variant"))
        lowered = [graph.compiled(key) for key in graph.plan.variants()]
        summary = [f"model: {type(demo.module).__name__}", f"config: {graph.config.describe()}",
                   f"captured graph: {len(graph.captured.gm.graph.nodes)} nodes",
                   f"block stack: {len(graph.stack.blocks)} blocks in {', '.join(graph.stack.lists)}",
                   f"schedule: {len(decisions)} steps, {sum(not d.compute for d in decisions)} skip the block stack",
                   "variants, in order of first use:"]
        summary += [f"  {low.variant.name}: {len(low.variant.gm.graph.nodes)} graph nodes" for low in lowered]
        files = stack_dump_files(summary, graph.captured, blocks, plan, lowered, "variant")
        return MethodDump(files, blocks, plan)

    def flags(self) -> tuple[Flag, ...]:
        return (Flag("--threshold", "the accumulated error bound (default: 0.06); plans with diffusers' Flux "
                     "mag_ratios interpolated to --steps", (("type", float), ("default", None))),)

    def config_from_flags(self, flags: dict[str, Any]) -> MagConfig:
        """diffusers' Flux ratios interpolated to the dump's steps: a schedule to look at, for any model."""
        from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

        threshold = 0.06 if flags["threshold"] is None else flags["threshold"]
        return MagConfig(threshold=threshold, num_inference_steps=flags["steps"], mag_ratios=tuple(FLUX_MAG_RATIOS.tolist()))

    def bench_config(self, fields: dict[str, Any]) -> Any:
        """`mag_ratios: "flux"` is diffusers' FLUX_MAG_RATIOS."""
        from diffusers import MagCacheConfig
        from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

        fields = dict(fields)
        if fields.get("mag_ratios") == "flux":
            fields["mag_ratios"] = FLUX_MAG_RATIOS.clone()
        return MagCacheConfig(**fields)


PLUGIN = MagCachePlugin()
