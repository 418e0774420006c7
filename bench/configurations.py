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
    method: str  # "none", "pab" or "fastercache"
    compiled: bool
    cachepass: bool
    prepare: Callable[[DemoModel, Workload, str], Callable[..., Any]]  # (demo, workload, compiler) -> module

    @property
    def paired(self) -> bool:
        """Timed in the shared paired process (bench/paired.py): all but diffusers' hooks under compile,
        whose recompiles would disturb the other compiled configurations there."""
        return not self.compiled or self.cachepass or self.method == "none"


def diffusers_config(workload: Workload, method: str) -> Any:
    from diffusers import FasterCacheConfig, PyramidAttentionBroadcastConfig

    if method == "pab":
        return PyramidAttentionBroadcastConfig(**workload.pab)
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
        return hooked

    return prepare


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
)}

# The diffusers hook each cached configuration is compared with.
HOOK_OF = {"pab": "diffusers PAB hook (eager)", "fastercache": "diffusers FasterCache hook (eager)"}
