"""The configurations compared on every workload, and how each one is set up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from cachepass.measure import DiffusersHooked
from cachepass.models import DemoModel

from .workloads import Workload


@dataclass(frozen=True)
class Configuration:
    name: str
    method: str  # "none", "pab", "fastercache" or "fbc"
    compiled: bool
    cachepass: bool
    prepare: Callable[[DemoModel, Workload, str], Callable[..., Any]]  # (demo, workload, compiler) -> module

    @property
    def paired(self) -> bool:
        """Timed in the shared paired process (bench/paired.py): all but diffusers' hooks under compile,
        whose recompiles would disturb the other compiled configurations there."""
        return not self.compiled or self.cachepass or self.method == "none"


def diffusers_config(workload: Workload, method: str) -> Any:
    from diffusers import (FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig, PyramidAttentionBroadcastConfig,
                           TaylorSeerCacheConfig)

    if method == "pab":
        return PyramidAttentionBroadcastConfig(**workload.pab)
    if method == "fbc":
        return FirstBlockCacheConfig(**workload.fbc)
    if method == "magcache":
        from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

        fields = dict(workload.magcache)
        if fields.get("mag_ratios") == "flux":
            fields["mag_ratios"] = FLUX_MAG_RATIOS.clone()
        return MagCacheConfig(**fields)
    if method == "taylorseer":
        return TaylorSeerCacheConfig(**{k: (list(v) if isinstance(v, tuple) else v) for k, v in workload.taylorseer.items()})
    fields = dict(workload.fastercache)
    weight = fields.pop("attention_weight_callback", None)
    if isinstance(weight, str) and weight.startswith("constant-"):
        value = float(weight.removeprefix("constant-"))
        fields["attention_weight_callback"] = lambda _module: value
    return FasterCacheConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def _eager(demo: DemoModel, workload: Workload, compiler: str) -> Callable[..., Any]:
    return demo.module


def _inductor(demo: DemoModel, workload: Workload, compiler: str) -> Callable[..., Any]:
    return torch.compile(demo.module, backend=compiler)


def _hook(method: str, compiled: bool) -> Callable[[DemoModel, Workload, str], Callable[..., Any]]:
    def prepare(demo: DemoModel, workload: Workload, compiler: str) -> Callable[..., Any]:
        hooked = DiffusersHooked(demo, diffusers_config(workload, method), copy_module=False)
        if compiled:
            hooked.module = torch.compile(hooked.module, backend=compiler)
        elif method in ("fbc", "magcache"):
            return BlocksProbe(hooked, hooked.module)
        return hooked

    return prepare


class BlocksProbe:
    """diffusers' FBC or MagCache hook, recording per call whether the last block ran ("C") or was skipped
    ("R"): a forward hook on the last block's first submodule, which runs only when it computes.
    Eager only (under torch.compile the probe's side effect would change what Dynamo captures)."""

    def __init__(self, hooked: Any, module: torch.nn.Module) -> None:
        from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS

        self.hooked, self.pattern = hooked, []
        lists = [child for name, child in module.named_children()
                 if name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS and isinstance(child, torch.nn.ModuleList)]
        next(lists[-1][-1].children()).register_forward_hook(lambda *_: self.pattern.__setitem__(-1, "C"))

    def __call__(self, **kwargs: Any) -> Any:
        self.pattern.append("R")
        return self.hooked(**kwargs)


def step_pattern(module: Any, steps: int) -> str | None:
    """C/R per step of the latest generation: computed, or reused (cachepass: any reuse; FBC hook: probed)."""
    if isinstance(module, BlocksProbe):
        return "".join(module.pattern[-steps:])
    import cachepass

    graphs = [g for g in cachepass.compiled_graphs(module) if g.cached] if isinstance(module, torch.nn.Module) else []
    if not graphs:
        return None
    history = list(graphs[-1].states()[0][1].history)
    return "".join("R" if r.reused else "C" for r in history[-steps:])


def _cachepass(method: str) -> Callable[[DemoModel, Workload, str], Callable[..., Any]]:
    def prepare(demo: DemoModel, workload: Workload, compiler: str) -> Callable[..., Any]:
        options = {"cache": diffusers_config(workload, method), "compiler": compiler}
        return torch.compile(demo.module, backend="cachepass", options=options)

    return prepare


CONFIGURATIONS: dict[str, Configuration] = {c.name: c for c in (
    Configuration("eager", "none", False, False, _eager),
    Configuration("diffusers PAB hook (eager)", "pab", False, False, _hook("pab", False)),
    Configuration("diffusers FasterCache hook (eager)", "fastercache", False, False, _hook("fastercache", False)),
    Configuration("diffusers PAB hook + torch.compile", "pab", True, False, _hook("pab", True)),
    Configuration("diffusers FasterCache hook + torch.compile", "fastercache", True, False, _hook("fastercache", True)),
    Configuration("torch.compile (inductor)", "none", True, False, _inductor),
    Configuration("cachepass PAB", "pab", True, True, _cachepass("pab")),
    Configuration("cachepass FasterCache", "fastercache", True, True, _cachepass("fastercache")),
    Configuration("diffusers FBC hook (eager)", "fbc", False, False, _hook("fbc", False)),
    Configuration("diffusers FBC hook + torch.compile", "fbc", True, False, _hook("fbc", True)),
    Configuration("cachepass FBC", "fbc", True, True, _cachepass("fbc")),
    Configuration("diffusers MagCache hook (eager)", "magcache", False, False, _hook("magcache", False)),
    Configuration("diffusers MagCache hook + torch.compile", "magcache", True, False, _hook("magcache", True)),
    Configuration("cachepass MagCache", "magcache", True, True, _cachepass("magcache")),
    Configuration("diffusers TaylorSeer hook (eager)", "taylorseer", False, False, _hook("taylorseer", False)),
    Configuration("diffusers TaylorSeer hook + torch.compile", "taylorseer", True, False, _hook("taylorseer", True)),
    Configuration("cachepass TaylorSeer", "taylorseer", True, True, _cachepass("taylorseer")),
)}

# The diffusers hook each cached configuration is compared with.
HOOK_OF = {"pab": "diffusers PAB hook (eager)", "fastercache": "diffusers FasterCache hook (eager)",
           "fbc": "diffusers FBC hook (eager)", "magcache": "diffusers MagCache hook (eager)",
           "taylorseer": "diffusers TaylorSeer hook (eager)"}


def applies(configuration: Configuration, workload: Workload) -> bool:
    """Whether the workload defines the configuration's method (the block-stack methods: not on Latte, whose
    spatial and temporal blocks interleave, which diffusers' hooks do not handle)."""
    return configuration.method == "none" or getattr(workload, configuration.method) is not None
