"""TaylorSeer as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin): Taylor-series prediction of selected
modules' outputs on a step-only schedule.

    capture -> tag (modules by diffusers' fullmatch rule) -> check (a selection that is empty) -> plan
    (step counter) -> dispatch (compute-o<k> / predict-o<m> variants, rewritten and compiled on first use)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with diffusers' `TaylorSeerCacheConfig`
or `cachepass.TSConfig`. See docs/methods.md, "TaylorSeer".
"""

from __future__ import annotations

from typing import Any


from ...compiler.capture import CapturedGraph
from ...errors import ConfigError
from ...options import BackendOptions
from ..plugin import MethodPlugin, TuneSeen, TuneSpace, Uncached
from .config import TSConfig, from_diffusers
from .plan import TSPlan
from .tag import TSTags, suggest_identifiers, tag_modules

__all__ = ["PLUGIN", "TSConfig", "TSPlan", "from_diffusers"]


class TaylorSeerPlugin(MethodPlugin):
    """TaylorSeer's stages and tool hooks (plugin.MethodPlugin)."""

    from_diffusers = staticmethod(from_diffusers)
    bench_label = "TaylorSeer"
    dump_example = "cogvideox --method taylorseer --steps 20 --out dump-ts"

    def tune_space(self, seen: TuneSeen) -> TuneSpace:
        """The interval between computed steps after diffusers' default warm-up, 2 up to the steps left after it
        (at most 10): a longer interval predicts more steps from older factors."""
        base = TSConfig()
        last = max(2, min(10, seen.calls - base.disable_cache_before_step))
        return TuneSpace("cache_interval", tuple(range(2, last + 1)), base)

    def tag(self, captured: CapturedGraph, config: TSConfig) -> TSTags:
        return tag_modules(captured, config)

    def check(self, captured: CapturedGraph, tags: TSTags, config: TSConfig) -> Uncached | None:
        if tags.active or tags.sites:
            return None
        suggestion = suggest_identifiers(info.name for info in captured.modules.values() if info.name)
        hint = suggestion.hint() if suggestion is not None else "name modules of this model"
        if config.cache_identifiers or config.skip_predict_identifiers:
            raise ConfigError(f"cachepass TaylorSeer: the identifiers {list(tags.patterns[1]) + list(tags.patterns[0])} "
                              f"fullmatch no module of this graph; {hint}.")
        return Uncached("no module matches TaylorSeer's identifiers",
                        f"cachepass: TaylorSeer's default identifiers {list(tags.patterns[1])} fullmatch module names that "
                        f"END in 'attn', and none of this graph's modules does (diffusers' hook selects nothing here "
                        f"either); compiling without caching. Pass cache_identifiers, {hint}.")

    def plan(self, tags: TSTags, config: TSConfig) -> TSPlan:
        return TSPlan(config)

    def runtime(self, captured: CapturedGraph, tags: TSTags, plan: TSPlan, options: BackendOptions) -> Any:
        from .dispatch import TaylorSeerGraph

        return TaylorSeerGraph(captured, tags, plan, options)

    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for TaylorSeer: the selected modules, the schedule, the variants."""
        from tabulate import tabulate

        from ...dump import DumpFile, MethodDump

        report = graph.report()
        decisions = graph.plan.simulate(steps)
        plan = tabulate([(d.step, d.name, d.delta, ", ".join(f"{c:g}" for c in d.coefficients) or "-") for d in decisions],
                        headers=("step", "variant", "delta / offset", "coefficients"))
        lowered = [graph.compiled(key) for key in graph.plan.variants(steps)]
        summary = [f"model: {type(demo.module).__name__}", f"config: {graph.config.describe()}",
                   f"modules: {len(graph.ts_tags.active)} predicted, {len(graph.ts_tags.sites) - len(graph.ts_tags.active)} "
                   f"zeroed on predicted steps", "variants, in order of first use:"]
        summary += [f"  {low.variant.name}: {len(low.variant.gm.graph.nodes)} graph nodes" for low in lowered]
        files = [DumpFile("summary.txt", "\n".join(summary) + "\n"), DumpFile("captured-graph.py", graph.captured.gm.code),
                 DumpFile("tags.txt", report.tag_table() + "\n"), DumpFile("plan.txt", plan + "\n")]
        files += [DumpFile(f"variant-{low.variant.name}.py", f"# variant {low.variant.name}\n" + low.variant.gm.code, low)
                  for low in lowered]
        return MethodDump(tuple(files), report.tag_table(), plan)

    def config_from_flags(self, flags: dict[str, Any]) -> TSConfig:
        return TSConfig()

    def bench_config(self, fields: dict[str, Any]) -> Any:
        from diffusers import TaylorSeerCacheConfig

        return TaylorSeerCacheConfig(**{k: (list(v) if isinstance(v, tuple) else v) for k, v in fields.items()})


PLUGIN = TaylorSeerPlugin()
