"""TaylorSeer as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin): Taylor-series prediction of selected
modules' outputs on a step-only schedule.

    capture -> tag (modules by diffusers' fullmatch rule) -> check (a selection that is empty) -> plan
    (step counter) -> dispatch (compute-o<k> / predict-o<m> variants, rewritten and compiled on first use)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with diffusers' `TaylorSeerCacheConfig`
or `cachepass.TSConfig`. See docs/methods.md, "TaylorSeer".
"""

from __future__ import annotations

import re
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
    compose_hint = ("TaylorSeer predicting a stack skip's residual is the calibrator: list cache-dit's "
                    "TaylorSeerCalibratorConfig(taylorseer_order=1) or cachepass.TaylorCalibratorConfig(order=1) "
                    "instead of a TaylorSeer cache config.")
    dump_example = "cogvideox --method taylorseer --steps 20 --out dump-ts"

    def tune_space(self, seen: TuneSeen) -> TuneSpace:
        """The interval between computed steps after diffusers' default warm-up, 2 up to the steps left after it
        (at most 20): a longer interval predicts more steps from older factors; crossed with the Taylor order,
        diffusers' 1 and 2 (a second difference: a better prediction, or a noisier one). Where diffusers' default
        identifiers select none of the model's modules (e.g. CogVideoX's `attn1`), the base selects the model's
        largest family of attention modules instead (the pattern the refusal suggests), so the tuner has
        something to tune; the pattern is in the winner's config."""
        base = TSConfig()
        _, active = base.patterns()
        if seen.modules and not any(re.fullmatch(p, name) for p in active for name in seen.modules):
            suggestion = suggest_identifiers(seen.modules)
            if suggestion is not None:
                base = TSConfig(cache_identifiers=(suggestion.pattern,))
        last = max(2, min(20, seen.calls - base.disable_cache_before_step))
        return TuneSpace("cache_interval", tuple(range(2, last + 1)), base, grid=(("max_order", (1, 2)),))

    def tag(self, captured: CapturedGraph, config: TSConfig) -> TSTags:
        return tag_modules(captured, config)

    def check(self, captured: CapturedGraph, tags: TSTags, config: TSConfig) -> Uncached | None:
        if tags.active or tags.sites:
            return None
        suggestion = suggest_identifiers(info.name for info in captured.modules.values() if info.name)
        hint = suggestion.hint() if suggestion is not None else "name modules of this model"
        selected = _selected_elsewhere(captured, tags)
        if captured.prefix and (selected or captured.model is None):
            elsewhere = f" ({selected[0]}, ... are in other graphs)" if selected else ""
            return Uncached("a submodule's graph without selected modules",
                            f"cachepass TaylorSeer: this graph holds only {captured.prefix} (regional compilation, or "
                            f"Dynamo compiles a submodule on its own after a graph break inside its call), and none of "
                            f"the modules the identifiers select{elsewhere}; it runs uncached.", quiet=True)
        if selected:
            return Uncached("a piece of the model without selected modules",
                            f"cachepass TaylorSeer: this graph is a piece of the model (Dynamo cut it at a graph "
                            f"break) that holds none of the modules the identifiers select ({selected[0]}, ... "
                            f"are in other graphs, which cache them); it runs uncached.", quiet=True)
        if config.cache_identifiers or config.skip_predict_identifiers:
            raise ConfigError(f"cachepass TaylorSeer: the identifiers {list(tags.patterns[1]) + list(tags.patterns[0])} "
                              f"fullmatch no module of this graph; {hint}.")
        return Uncached("no module matches TaylorSeer's identifiers",
                        f"cachepass: TaylorSeer's default identifiers {list(tags.patterns[1])} fullmatch module names that "
                        f"END in 'attn', and none of this graph's modules does (diffusers' hook selects nothing here "
                        f"either); compiling without caching. Pass cache_identifiers, {hint}.")

    def name_patterns(self, config: TSConfig) -> tuple[str, ...]:
        """The identifiers, anchored: diffusers' rule is `re.fullmatch`, the grouping's `re.search`."""
        inactive, active = config.patterns()
        return tuple(rf"\A(?:{p})\Z" for p in (*inactive, *active))

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


def _selected_elsewhere(captured: CapturedGraph, tags: TSTags) -> list[str]:
    """The modules of the whole model the identifiers select, when this graph holds none of them: the graph is
    then one piece of a model Dynamo cut at a graph break, and the other pieces hold the selection."""
    holder = captured.model if captured.model is not None else captured.root  # a block graph: its model
    root = holder() if holder is not None else None
    if root is None:
        return []
    patterns = [*tags.patterns[1], *tags.patterns[0]]
    return [name for name, _ in root.named_modules() if any(re.fullmatch(p, name) for p in patterns)]


PLUGIN = TaylorSeerPlugin()
