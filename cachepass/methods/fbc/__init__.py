"""FirstBlockCache as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin): the first data-dependent method.

    capture -> tag (the block stack, its streams, the cut after block 0) -> plan (threshold rule)
    -> dispatch (head piece, one host read of its probe, one tail piece; pieces rewritten and
    compiled on first use)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with diffusers'
`FirstBlockCacheConfig` or `cachepass.FBCConfig`. See docs/methods.md, "FirstBlockCache".
"""

from __future__ import annotations

from typing import Any


from ...compiler.blocks import BlockGraphStreams, BlockStack, StackUser, tag_block_graph, tag_blocks
from ...compiler.capture import CapturedGraph
from ...options import BackendOptions
from ..plugin import Flag, MethodPlugin, TuneSeen, TuneSpace, Uncached, check_block_graph
from .config import FBCConfig, from_diffusers
from .plan import FBCPlan, make_plan

__all__ = ["PLUGIN", "FBCConfig", "FBCPlan", "BlockStack", "from_diffusers"]

# The block stack's errors and logs, in this method's words.
STACK_USER = StackUser("FirstBlockCache", "FBCConfig", "PAB, which caches attention layers")


class FBCPlugin(MethodPlugin):
    """FirstBlockCache's stages and tool hooks (plugin.MethodPlugin)."""

    from_diffusers = staticmethod(from_diffusers)
    bench_label = "FBC"
    calibrated_skip = True  # a calibrator may predict its tail residuals (runtime/pieces.py)
    cfg_inner = True  # it runs inside the rows a CFG skip runs (runtime/cfg_split.py)
    bench_probe = "first-block decision"
    dump_example = "cogvideox --method fbc --threshold 0.3 --out dump-fbc"
    config_example = '{"threshold": 0.1, "block_lists": ["transformer_blocks"]} (FBCConfig)'

    def tune_space(self, seen: TuneSeen) -> TuneSpace:
        """The threshold, from nearly none reused up to past 1 (every step after the first skips on a model that
        changes little: a search may end at the budget, not at the space's end)."""
        return TuneSpace("threshold", (0.02, 0.05, 0.08, 0.12, 0.16, 0.24, 0.32, 0.48, 0.64, 0.96, 1.28), FBCConfig())

    def tag(self, captured: CapturedGraph, config: FBCConfig) -> BlockStack | BlockGraphStreams:
        if captured.prefix:  # a graph of one block: regional compilation (regional.py)
            return tag_block_graph(captured, config, STACK_USER)
        return tag_blocks(captured, config, STACK_USER)  # raises ConfigError when there is no block stack: nothing to fall back to

    def check(self, captured: CapturedGraph, tags: BlockStack | BlockGraphStreams, config: FBCConfig) -> Uncached | None:
        return check_block_graph(captured, tags, "FirstBlockCache")

    def plan(self, stack: BlockStack | BlockGraphStreams, config: FBCConfig) -> FBCPlan:
        return make_plan(stack, config)

    def runtime(self, captured: CapturedGraph, stack: BlockStack | BlockGraphStreams, plan: FBCPlan,
                options: BackendOptions) -> Any:
        if isinstance(stack, BlockGraphStreams):
            from .regional import FirstBlockStackGraph

            return FirstBlockStackGraph(captured, stack, plan, options)
        from .dispatch import FirstBlockGraph

        return FirstBlockGraph(captured, stack, plan, options)

    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for FirstBlockCache: the block stack and the cut, the rule, every piece."""
        from ...dump import MethodDump, piece_table, stack_dump_files
        from ...runtime.pieces import PIECES
        from .report import block_report
        from .rewrite import head_slot, tail_slots

        stack = graph.stack
        blocks = block_report(stack)
        lowered = [graph.compiled(key) for key in PIECES]
        pieces = piece_table(lowered)
        plan = (f"threshold {graph.plan.threshold:g}: compute the remaining blocks when mean|r - p| / mean|p| > threshold,\n"
                f"r = {head_slot(stack).write_name} (this step), p = the same residual of the last computed step;\n"
                f"otherwise add {', '.join(s.read_name for s in tail_slots(stack))} to the first block's output.\n"
                f"Each step runs the head (`head` without p, `head+decide` with it), reads its probe once "
                f"(decision value, timestep), then one tail.\n\n{pieces}")
        summary = [f"model: {type(demo.module).__name__}",
                   f"config: {graph.config.describe()}",
                   f"captured graph: {len(graph.captured.gm.graph.nodes)} nodes, {len(graph.captured.inputs)} inputs",
                   f"block stack: {len(stack.blocks)} blocks in {', '.join(stack.lists)}; head piece {len(stack.head_nodes)} "
                   f"nodes, {len(stack.crossing)} values handed to the tail",
                   f"streams: {', '.join(s.name + (' (tail residual cached)' if s.cached else '') for s in stack.streams)}",
                   "pieces:"]
        summary += [f"  {low.variant.name}: {len(low.variant.gm.graph.nodes)} graph nodes" for low in lowered]
        files = stack_dump_files(summary, graph.captured, blocks, plan, lowered)
        return MethodDump(files, blocks, plan)

    def flags(self) -> tuple[Flag, ...]:
        return (Flag("--threshold", "skip the blocks after the first when its residual changed by at most this "
                     "(default: 0.05)", (("type", float), ("default", None))),)

    def config_from_flags(self, flags: dict[str, Any]) -> FBCConfig:
        return FBCConfig() if flags["threshold"] is None else FBCConfig(threshold=flags["threshold"])

    def bench_config(self, fields: dict[str, Any]) -> Any:
        from diffusers import FirstBlockCacheConfig

        return FirstBlockCacheConfig(**fields)


PLUGIN = FBCPlugin()
