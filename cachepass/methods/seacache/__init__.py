"""SeaCache as a plug-in of the method registry (methods/__init__.py; `PLUGIN`, a plugin.MethodPlugin): a
whole-stack skip decided from the data before any block runs.

    capture -> tag (the block stack, as FirstBlockCache finds it, and the 5-D `hidden_states` input) ->
    plan (diffusers' gate: accumulated SEA-indicator distance, forced steps) -> dispatch (probe piece, at most
    one host read, one variant of the model; pieces rewritten and compiled on first use)

`torch.compile(model, backend="cachepass", options={"cache": cfg})` with diffusers' `SeaCacheConfig` or
`cachepass.SeaConfig`. See docs/methods.md, "SeaCache".
"""

from __future__ import annotations

import re
from typing import Any

from ...compiler.blocks import BlockStack, StackUser, tag_blocks
from ...compiler.capture import CapturedGraph
from ...errors import ConfigError
from ...options import BackendOptions
from ..plugin import Flag, MethodPlugin, TuneSeen, TuneSpace, Uncached
from .config import SeaConfig, from_diffusers
from .plan import SeaPlan

__all__ = ["PLUGIN", "SeaConfig", "SeaPlan", "from_diffusers"]

_HIDDEN_STATES = re.compile(r"\['hidden_states'\]$")


def latent_input(captured: CapturedGraph) -> int | None:
    """The graph input of the model's `hidden_states` argument, when it is 5-D (B, C, T, H, W)."""
    for graph_input in captured.inputs_with_role("input"):
        if _HIDDEN_STATES.search(graph_input.source):
            example = captured.example_inputs()[graph_input.index]
            return graph_input.index if example.dim() == 5 else None
    return None


STACK_USER = StackUser("SeaCache", "SeaConfig", "PAB, which caches attention layers", "the whole block stack")

class SeaCachePlugin(MethodPlugin):
    """SeaCache's stages and tool hooks (plugin.MethodPlugin)."""

    calibrated_skip = True  # a calibrator may predict its residual (runtime/calibrated.py)
    calibrated_hidden_only = True  # the only residual it reuses is the hidden stream's

    from_diffusers = staticmethod(from_diffusers)
    bench_label = "SeaCache"
    bench_probe = "last block"  # a whole-stack skip: the last block runs only on a computed step

    def tune_space(self, seen: TuneSeen) -> TuneSpace:
        """The threshold on the accumulated filtered change, diffusers' other defaults (retention, end steps, at
        most 2 reused in a row): from nearly none reused to where the row limit binds."""
        return TuneSpace("threshold", (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.2, 1.6), SeaConfig())

    def tag(self, captured: CapturedGraph, config: SeaConfig) -> tuple[BlockStack, int | None]:
        _refuse_cosmos3(captured)
        return tag_blocks(captured, config, STACK_USER), latent_input(captured)

    def check(self, captured: CapturedGraph, tags: tuple[BlockStack, int | None], config: SeaConfig) -> Uncached | None:
        _, latent = tags
        if latent is None:
            return Uncached("no 5-D hidden_states input", (
                "cachepass SeaCache: the model's `hidden_states` input is not a 5-D video latent (B, C, T, H, W), so "
                "there is no indicator to decide with: diffusers' hook runs every step in full here (fail-open), "
                "and cachepass compiles the model without caching. Use a method that needs no video latents "
                "(FirstBlockCache, MagCache, TaylorSeer)."))
        if config.vision == "auto" and not _wan_t2v(captured):
            root = captured.root() if captured.root is not None else None
            return Uncached("no built-in SeaCache adapter", (
                f"cachepass SeaCache: {type(root).__name__ if root is not None else 'this model'} has no built-in "
                f"SeaCache adapter in diffusers (only Wan T2V and Cosmos 3 do), so diffusers' hook runs every step in "
                f"full; cachepass compiles it without caching. If its `hidden_states` input is the (B, C, T, H, W) "
                f"video latent, pass cachepass.SeaConfig(vision='hidden_states') (diffusers: raw_vision_callback="
                f"diffusers.hooks.sea_cache._prepare_wan_t2v_raw_vision_metadata)."))
        example = captured.example_inputs()[latent]
        if not isinstance(example.shape[0], int):
            raise ConfigError("cachepass SeaCache filters each batch element's latent on its own and needs a static "
                              "batch size; compile with dynamic=False or torch._dynamo.mark_static(latents, 0).")
        return None

    def plan(self, tags: tuple[BlockStack, int | None], config: SeaConfig) -> SeaPlan:
        return SeaPlan(config)

    def runtime(self, captured: CapturedGraph, tags: tuple[BlockStack, int], plan: SeaPlan,
                options: BackendOptions) -> Any:
        from .dispatch import SeaCacheGraph

        return SeaCacheGraph(captured, tags, plan, options)

    def dump_files(self, graph: Any, demo: Any, steps: int) -> Any:
        """`cachepass dump`'s files for SeaCache: the block stack, the gate, the probes and the variants."""
        from tabulate import tabulate

        from ...dump import MethodDump, stack_dump_files
        from .report import block_report

        blocks = block_report(graph.stack)
        keys = ("indicator", "indicator+distance", "compute", "skip", "skip+extrapolate")
        lowered = [graph.compiled(key) for key in keys if key != "skip+extrapolate" or graph.config.residual_order]
        rows = [(low.variant.name, ", ".join(_probe_io(low.variant.name, "reads", [s.read_name for s in low.variant.reads]))
                 or "-", ", ".join(_probe_io(low.variant.name, "writes", [s.write_name for s in low.variant.writes]))
                 or "-", len(low.variant.gm.graph.nodes)) for low in lowered]
        config = graph.config
        plan = (f"threshold {config.threshold:g}: a step computes when it is one of the first {config.retention_steps} "
                f"or last {config.cache_end_steps}, follows {config.max_consecutive_cached or 'unlimited'} reuses, has "
                f"no previous indicator, or when the accumulated distance between SEA-filtered latents (power "
                f"{config.power_exp:g}) reaches the threshold; otherwise it adds the "
                f"{'extrapolated (order 1)' if config.residual_order else 'last'} residual.\n"
                f"Each step runs a probe (`indicator`, or `indicator+distance` when the distance decides: one host "
                f"read), then one variant.\n\n"
                + tabulate(rows, headers=("piece", "cache reads", "cache writes", "graph nodes")))
        summary = [f"model: {type(demo.module).__name__}", f"config: {config.describe()}",
                   f"captured graph: {len(graph.captured.gm.graph.nodes)} nodes",
                   f"block stack: {len(graph.stack.blocks)} blocks in {', '.join(graph.stack.lists)}",
                   f"indicator input: {graph.captured.inputs[graph._latent].source}",
                   "pieces:"]
        summary += [f"  {low.variant.name}: {len(low.variant.gm.graph.nodes)} graph nodes" for low in lowered]
        files = stack_dump_files(summary, graph.captured, blocks, plan, lowered, plus="-")
        return MethodDump(files, blocks, plan)

    def flags(self) -> tuple[Flag, ...]:
        return (Flag("--threshold", "the accumulated SEA-indicator distance bound (default: 0.25); vision "
                     "'hidden_states' (any 5-D latent model)", (("type", float), ("default", None))),)

    def config_from_flags(self, flags: dict[str, Any]) -> SeaConfig:
        threshold = 0.25 if flags["threshold"] is None else flags["threshold"]
        return SeaConfig(threshold=threshold, vision="hidden_states")

    def bench_config(self, fields: dict[str, Any]) -> Any:
        """`raw_vision_callback: "hidden_states"` is diffusers' Wan adapter, for a non-Wan video model."""
        from diffusers import SeaCacheConfig
        from diffusers.hooks.sea_cache import _prepare_wan_t2v_raw_vision_metadata

        fields = dict(fields)
        if fields.get("raw_vision_callback") == "hidden_states":
            fields["raw_vision_callback"] = _prepare_wan_t2v_raw_vision_metadata
        return SeaCacheConfig(**fields)


def _probe_io(piece: str, what: str, slots: list[str]) -> list[str]:
    """A piece's cache slots, and for the probes the indicators they hand over as plain inputs and outputs (the
    runtime keeps them in its store under INDICATOR: no cache slot of the graph's own)."""
    from .rewrite import INDICATOR

    names = list(slots)
    if piece == "indicator+distance" and what == "reads":
        names.append(f"{INDICATOR} (input: the previous step's)")
    if piece in ("indicator", "indicator+distance") and what == "writes":
        names.append(f"{INDICATOR} (output: kept for the next step)")
    return names


def _wan_t2v(captured: CapturedGraph) -> bool:
    """diffusers' own adapter choice: a WanTransformer3DModel whose in_channels equal its out_channels."""
    root = captured.root() if captured.root is not None else None
    try:
        from diffusers import WanTransformer3DModel
    except ImportError:
        return False
    return isinstance(root, WanTransformer3DModel) and root.config.in_channels == root.config.out_channels


def _refuse_cosmos3(captured: CapturedGraph) -> None:
    root = captured.root() if captured.root is not None else None
    if type(root).__name__ == "Cosmos3OmniTransformer":
        raise ConfigError("cachepass SeaCache does not implement Cosmos 3's decoder-stack boundary (its und/gen "
                          "pathways and post-normalization residual) yet; run diffusers' hook instead: "
                          "transformer.enable_cache(SeaCacheConfig()) without torch.compile(backend='cachepass').")


PLUGIN = SeaCachePlugin()
