"""DBCache (cache-dit's Dual Block Cache) and its steps-computation masks, as a plug-in of the method registry
(methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin).

    capture -> tag (the block stack, cut after the Fn blocks) -> plan (cache-dit's rules) -> dispatch (head
    piece, one host read of its probe, one tail piece; pieces rewritten and compiled on first use)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with cache-dit's `DBCacheConfig` or
`cachepass.DBConfig`. See docs/methods.md, "DBCache".
"""

from __future__ import annotations

from typing import Any

from ...compiler.blocks import BlockGraphStreams, tag_block_graph
from ...compiler.capture import CapturedGraph
from ...errors import ConfigError
from ...options import BackendOptions
from ..plugin import Flag, MethodPlugin, TuneSeen, TuneSpace, Uncached, check_block_graph
from .config import DBConfig, from_cache_dit
from ...runtime.pieces import PIECES
from .plan import DBPlan, make_plan, stack_plan
from .rewrite import STACK_USER, DBStack, tag

__all__ = ["PLUGIN", "DBConfig", "DBPlan", "DBStack", "from_cache_dit"]


class DBCachePlugin(MethodPlugin):
    """DBCache's stages and tool hooks (plugin.MethodPlugin)."""

    from_diffusers = staticmethod(from_cache_dit)  # the registry's converter: here cache-dit's config
    bench_label = "DBCache"
    calibrated_skip = True  # a calibrator may predict its tail residuals (runtime/pieces.py)
    bench_peer = "cache-dit"  # its reference rows: cache-dit's own DBCache (diffusers has no DBCache hook)
    dump_example = "cogvideox --method dbcache --fn-blocks 1 --bn-blocks 0 --threshold 0.3 --out dump-dbcache"
    config_example = '{"Fn_compute_blocks": 1, "Bn_compute_blocks": 0, "residual_diff_threshold": 0.08} (DBConfig)'

    def tune_space(self, seen: TuneSeen) -> TuneSpace:
        """`residual_diff_threshold` on F1B0 (one block decides, none after), from none reused to most steps; the
        warm-up is cache-dit's 8 steps, at most a quarter of the generation's calls (a short one keeps some)."""
        base = DBConfig(Fn_compute_blocks=1, Bn_compute_blocks=0, max_warmup_steps=min(8, seen.calls // 4))
        return TuneSpace("residual_diff_threshold", (0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.32, 0.48, 0.64, 0.96, 1.28),
                         base)

    def tag(self, captured: CapturedGraph, config: DBConfig) -> DBStack | BlockGraphStreams:
        if captured.prefix:  # a graph of one block: regional compilation (regional.py)
            if (config.Fn_compute_blocks, config.Bn_compute_blocks) != (1, 0):
                raise ConfigError(f"cachepass DBCache: F{config.Fn_compute_blocks}B{config.Bn_compute_blocks} is not "
                                  f"yet supported on a graph of one block ({captured.prefix}; regional compilation): "
                                  f"use Fn_compute_blocks=1, Bn_compute_blocks=0, or compile the whole transformer: "
                                  f"torch.compile(transformer, backend='cachepass', fullgraph=True, ...).")
            return tag_block_graph(captured, config, STACK_USER)
        return tag(captured, config)  # raises ConfigError when there is no stack or no middle block

    def check(self, captured: CapturedGraph, tags: DBStack | BlockGraphStreams, config: DBConfig) -> Uncached | None:
        return check_block_graph(captured, tags, "DBCache")

    def plan(self, db: DBStack | BlockGraphStreams, config: DBConfig) -> DBPlan:
        if isinstance(db, BlockGraphStreams):
            return stack_plan(db.names, config)
        return make_plan(db, config)

    def runtime(self, captured: CapturedGraph, db: DBStack | BlockGraphStreams, plan: DBPlan,
                options: BackendOptions) -> Any:
        if isinstance(db, BlockGraphStreams):
            from .regional import DBStackGraph

            return DBStackGraph(captured, db, plan, options)
        from .dispatch import DBCacheGraph

        return DBCacheGraph(captured, db, plan, options)

    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for DBCache: the stack and its cut, the rules, every piece."""
        from ...dump import MethodDump, piece_table, stack_dump_files
        from .report import block_report
        from .rewrite import head_slot, tail_slots

        db, plan = graph.db, graph.plan
        blocks = block_report(db)
        lowered = [graph.compiled(key) for key in PIECES]
        pieces = piece_table(lowered)
        text = (f"{graph.config.describe()}\n"
                f"warm-up steps: {sorted(plan.warmup) or 'none'}\n"
                f"reuse when the rules allow (plan.py) and mean|r - p| / mean|p| < {plan.threshold:g},\n"
                f"r = {head_slot(db).write_name} (this step), p = the same residual of the last computed step;\n"
                f"a reuse step adds {', '.join(s.read_name for s in tail_slots(db))} to the Fn blocks' output and "
                f"runs the last {db.Bn} block(s).\nEach step runs the head (`head`, or `head+decide` when the value "
                f"can decide), reads its probe once (value, timestep), then one tail.\n\n{pieces}")
        summary = [f"model: {type(demo.module).__name__}", f"config: {graph.config.describe()}",
                   f"captured graph: {len(graph.captured.gm.graph.nodes)} nodes, {len(graph.captured.inputs)} inputs",
                   f"block stack: {len(db.stack.blocks)} blocks in {', '.join(db.stack.lists)}; head piece "
                   f"{len(db.head_nodes)} nodes, {len(db.crossing)} values handed to the tail", "pieces:"]
        summary += [f"  {low.variant.name}: {len(low.variant.gm.graph.nodes)} graph nodes" for low in lowered]
        files = stack_dump_files(summary, graph.captured, blocks, text, lowered)
        return MethodDump(files, blocks, text)

    def flags(self) -> tuple[Flag, ...]:
        return (Flag("--threshold", "DBCache: its residual_diff_threshold (default: 0.08)"),
                Flag("--fn-blocks", "DBCache: Fn_compute_blocks, the first blocks that always run (default: 1)",
                     (("type", int), ("default", 1))),
                Flag("--bn-blocks", "DBCache: Bn_compute_blocks, the last blocks that always run (default: 0)",
                     (("type", int), ("default", 0))),
                Flag("--warmup-steps", "DBCache: max_warmup_steps (default: 0)", (("type", int), ("default", 0))))

    def config_from_flags(self, flags: dict[str, Any]) -> DBConfig:
        threshold = 0.08 if flags.get("threshold") is None else flags["threshold"]
        return DBConfig(Fn_compute_blocks=flags["fn_blocks"], Bn_compute_blocks=flags["bn_blocks"],
                        residual_diff_threshold=threshold, max_warmup_steps=flags["warmup_steps"])

    def bench_config(self, fields: dict[str, Any]) -> Any:
        import cache_dit

        return cache_dit.DBCacheConfig(**{"enable_separate_cfg": False, **fields})


PLUGIN = DBCachePlugin()
