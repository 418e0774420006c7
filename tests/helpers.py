"""Independent oracles for the tests: diffusers' own PAB hooks on an eager copy of the model."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping

import torch
from diffusers import PyramidAttentionBroadcastConfig
from diffusers.hooks import HookRegistry, apply_pyramid_attention_broadcast
from diffusers.hooks.pyramid_attention_broadcast import _apply_pyramid_attention_broadcast_hook

from cachepass.models import DemoModel

TIMESTEPS_12 = [float(t) for t in torch.linspace(999, 0, 12)]


class HookedReference:
    """An eager deep copy of a model carrying diffusers' PAB hooks.

    Either from a diffusers `PyramidAttentionBroadcastConfig` (diffusers picks the layers), or from
    an explicit `{module name: (skip, (low, high))}` map, which applies diffusers' hook to exactly the
    layers the test names -- the oracle for cachepass's own classification and for plain modules.
    """

    def __init__(self, demo: DemoModel, config: PyramidAttentionBroadcastConfig | None = None,
                 layers: Mapping[str, tuple[int, tuple[float, float]]] | None = None) -> None:
        self.demo = demo
        self.module = copy.deepcopy(demo.module)
        self._timestep: float | None = None
        if config is not None:
            config = dataclasses.replace(config, current_timestep_callback=lambda: self._timestep)
            apply_pyramid_attention_broadcast(self.module, config)
        for name, (skip, window) in (layers or {}).items():
            _apply_pyramid_attention_broadcast_hook(self.module.get_submodule(name), window, skip,
                                                    lambda: self._timestep)
        self.hooked = sorted(name for name, m in self.module.named_modules()
                             if getattr(m, "_diffusers_hook", None) is not None
                             and m._diffusers_hook.get_hook("pyramid_attention_broadcast") is not None)
        self.computed: list[set[str]] = []  # per call: hooked layers that really ran their attention
        for name in self.hooked:
            layer = self.module.get_submodule(name)
            probe = getattr(layer, "to_q", None) or next(layer.children())  # runs only when attention computes
            probe.register_forward_hook(lambda *_, name=name: self.computed[-1].add(name))

    def reset(self) -> None:
        HookRegistry.check_if_exists_or_initialize(self.module).reset_stateful_hooks()

    def __call__(self, timestep: float, batch: int | None = None) -> torch.Tensor:
        return self.call(timestep, self.demo.inputs(timestep, batch))

    def call(self, timestep: float, kwargs: Mapping) -> torch.Tensor:
        """One call on `kwargs` (e.g. some rows of a CFG batch) at `timestep`, the hooks' callback's value."""
        self._timestep = timestep
        self.computed.append(set())
        with torch.no_grad():
            out = self.module(**kwargs)
        return out[0] if isinstance(out, (tuple, list)) else out

    def reused(self, call: int) -> set[str]:
        """Hooked layers that returned their cache on call number `call`."""
        return set(self.hooked) - self.computed[call]


def run_loop(demo: DemoModel, module, timesteps, batch: int | None = None) -> list[torch.Tensor]:
    with torch.no_grad():
        return [demo(module, t, batch) for t in timesteps]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())
