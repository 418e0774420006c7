"""Pyramid Attention Broadcast as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin).

    capture (compiler/capture.py) -> tag (tag.py: PAB's policy over compiler/attention.py's sites)
    -> plan (plan.py: the per-kind schedule) -> runtime (runtime.py: CachedGraph; rewrite.py builds the
    variants with the core's `cache_read__`/`cache_write__` points, compiler/lower.py compiles them)
"""

from __future__ import annotations

from collections import Counter
from typing import Any


from ...compiler.attention import NAME_PATTERNS, TagResult, cut_attention
from ...compiler.capture import CapturedGraph
from ...errors import ConfigError
from ...options import BackendOptions
from ..plugin import CLASSIFICATION, Flag, MethodPlugin, TuneSeen, TuneSpace, Uncached
from .config import DEFAULT_TIMESTEPS, PABConfig, from_diffusers
from .plan import Plan, make_plan
from .tag import tag

__all__ = ["PLUGIN", "PABConfig", "from_diffusers"]


def _summary(demo: Any, graph: Any, timesteps: list[float], lowered: list[Any]) -> str:
    sites = graph.tags.sites
    cached = [s for s in sites if s.cached]
    by_kind = Counter(s.cache_kind for s in cached)
    decisions = graph.plan.simulate(timesteps)
    used = Counter(d.variant for d in decisions)
    lines = [
        f"model: {type(demo.module).__name__}",
        f"config: {graph.options.cache.describe()}",
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


def _timestep_source(graph: Any) -> str:
    if graph.options.cache.current_timestep_callback is not None:
        return "current_timestep_callback()"
    return graph.captured.inputs[graph.captured.timestep_input].source


def _variant_code(low: Any) -> str:
    variant = low.variant
    header = [f"# variant {variant.name}",
              f"# reads  {len(variant.reads)} cache tensors: {', '.join(s.read_name for s in variant.reads) or '-'}",
              f"# writes {len(variant.writes)} cache tensors: {', '.join(s.write_name for s in variant.writes) or '-'}",
              f"# {len(variant.gm.graph.nodes)} graph nodes"]
    return "\n".join(header) + "\n" + variant.gm.code


def _cut_attention() -> Uncached | None:
    """A graph piece that runs attention after a graph break inside the attention call: the layers PAB leaves
    out, said (NOTE [A module call cut by a graph break], compiler/capture.py)."""
    function, layers = cut_attention()
    if not layers:
        return None
    return Uncached("attention cut by a graph break",
                    f"cachepass: PAB leaves out the attention layer(s) {', '.join(layers)}: Dynamo broke the graph "
                    f"inside their attention call (in `{function}`, e.g. at a `.tolist()` / `.item()`), so their "
                    f"attention runs in a graph piece after the break that holds no whole attention call whose output "
                    f"could be reused; they run uncached, as under plain torch.compile. Fix: remove the graph break "
                    f"(`fullgraph=True` shows where; `torch._dynamo.config.capture_scalar_outputs = True` may trace "
                    f"it), or use diffusers' apply_pyramid_attention_broadcast hook for this model.")


class PABPlugin(MethodPlugin):
    """PAB's stages and tool hooks (plugin.MethodPlugin)."""

    from_diffusers = staticmethod(from_diffusers)
    bench_label = "PAB"
    dump_example = "latte --temporal-skip 3 --cross-skip 4 --cross-timesteps 50 950 --out dump-latte"
    config_example = ('{"spatial_skip": 2, "cross_skip": 4, "cross_timesteps": [100, 900]} (PABConfig),\n'
                      '{"spatial_attention_block_skip_range": 2, "spatial_attention_timestep_skip_range": [100, 800]}\n'
                      "(diffusers' PyramidAttentionBroadcastConfig)")

    demo = True
    cfg_inner = True  # it runs inside the rows a CFG skip runs, one state per row set (runtime/cfg_split.py)

    def tune_space(self, seen: TuneSeen) -> TuneSpace | None:
        """The spatial skip range, 2 (diffusers' default) to 8, crossed with the window it applies in:
        diffusers' timestep window when the model's timesteps fall in it, else inside the timesteps it receives;
        and, where it reaches more calls, that window widened to the timesteps received (every call but the first
        and the last); None without a `timestep` input."""
        if not seen.timesteps:
            return None
        low, high = DEFAULT_TIMESTEPS
        if not any(low < t < high for t in seen.timesteps):
            low, high = min(seen.timesteps), max(seen.timesteps)
        windows = [(low, high)]
        wider = (min(low, *seen.timesteps), max(high, *seen.timesteps))
        if sum(wider[0] < t < wider[1] for t in seen.timesteps) > sum(low < t < high for t in seen.timesteps):
            windows.append(wider)
        return TuneSpace("spatial_skip", (2, 3, 4, 5, 6, 8), PABConfig(spatial_skip=2, spatial_timesteps=(low, high)),
                         grid=(("spatial_timesteps", tuple(windows)),))

    def demo_config(self) -> Any:
        """diffusers' PAB at its default skip and window: the demo's method."""
        from diffusers import PyramidAttentionBroadcastConfig

        return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                               spatial_attention_timestep_skip_range=(100, 800))

    def tag(self, captured: CapturedGraph, config: PABConfig) -> TagResult:
        return tag(captured, config)

    def check(self, captured: CapturedGraph, tags: TagResult, config: PABConfig) -> Uncached | None:
        if not tags.cached_sites and tags.rejected and (cut := _cut_attention()) is not None:
            return cut
        if not tags.cached_sites:
            hint = "Set TORCH_LOGS='+cachepass' to see why."
            if config.classification == "diffusers" and tags.sites:
                hint = (f"The config is diffusers' PyramidAttentionBroadcastConfig, whose rule caches only diffusers' "
                        f"attention classes under diffusers' block names, and this model's {len(tags.sites)} attention "
                        f"sites are none of them. cachepass.PABConfig(spatial_skip=..., ...) classifies attention from the "
                        f"graph itself and caches them.")
            return Uncached("no cacheable attention",
                            f"cachepass: no cacheable attention found in this graph ({len(tags.sites)} attention sites, "
                            f"{len(tags.rejected)} rejected); compiling it without caching. {hint}", tags,
                            quiet=bool(captured.prefix) and not tags.sites and not tags.rejected)
        if config.current_timestep_callback is None and not captured.has_timestep:
            raise ConfigError(
                "cachepass reads the current timestep from the model's `timestep` tensor input, but this graph has none "
                "(a Python number passed as timestep is baked into the graph as a constant). Pass the timestep as a "
                "tensor, or give the cache config a current_timestep_callback.")
        return None

    def name_patterns(self, config: PABConfig) -> tuple[str, ...]:
        """Module names decide kinds ("temporal"), attention-like modules and, under diffusers' rule, the layers."""
        identifiers = ([i for kind in ("spatial", "temporal", "cross") for i in config.identifiers(kind)]
                       if config.classification == "diffusers" else [])
        return (*NAME_PATTERNS, *identifiers)

    def plan(self, tags: TagResult, config: PABConfig) -> Plan:
        return make_plan(tags, config)

    def runtime(self, captured: CapturedGraph, tags: TagResult, plan: Plan, options: BackendOptions) -> Any:
        from .runtime import CachedGraph

        return CachedGraph(captured, tags, plan, options)

    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for a PAB graph (see dump.py)."""
        from ...dump import DumpFile, MethodDump
        from ...timesteps import timesteps_linspace
        from ...report import tag_table
        from .report import plan_table

        timesteps = timesteps_linspace(steps)
        tags = tag_table(graph.tags.sites, graph.tags.rejected)
        plan = plan_table(graph.plan, graph.tags.sites, timesteps)
        lowered = [graph.compiled(key) for key in graph.plan.variants(timesteps)]
        files = [DumpFile("summary.txt", _summary(demo, graph, timesteps, lowered)),
                 DumpFile("captured-graph.py", graph.captured.gm.code),
                 DumpFile("tags.txt", tags + "\n"),
                 DumpFile("plan.txt", f"{len(timesteps)} steps, timesteps evenly spaced from 999 to 0\n\n{plan}\n")]
        files += [DumpFile(f"variant-{low.variant.name}.py", _variant_code(low), low) for low in lowered]
        return MethodDump(tuple(files), tags, plan)

    def flags(self) -> tuple[Flag, ...]:
        windows = []
        for kind, default in (("spatial", 2), ("temporal", None), ("cross", None)):
            windows += [Flag(f"--{kind}-skip", f"reuse {kind} attention N-1 steps out of N (default: {default})",
                             (("type", int), ("default", default), ("metavar", "N"))),
                        Flag(f"--{kind}-timesteps", f"open timestep window where {kind} attention may be reused "
                             f"(default: 100 800)", (("type", float), ("nargs", 2), ("default", (100.0, 800.0)),
                                                     ("metavar", ("LOW", "HIGH"))))]
        return (CLASSIFICATION, *windows)

    def config_from_flags(self, flags: dict[str, Any]) -> PABConfig:
        return PABConfig(spatial_skip=flags["spatial_skip"], temporal_skip=flags["temporal_skip"],
                         cross_skip=flags["cross_skip"], spatial_timesteps=tuple(flags["spatial_timesteps"]),
                         temporal_timesteps=tuple(flags["temporal_timesteps"]),
                         cross_timesteps=tuple(flags["cross_timesteps"]), classification=flags["classification"])

    def bench_config(self, fields: dict[str, Any]) -> Any:
        from diffusers import PyramidAttentionBroadcastConfig

        return PyramidAttentionBroadcastConfig(**fields)


PLUGIN = PABPlugin()
