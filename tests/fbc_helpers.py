"""Oracles for FirstBlockCache: diffusers' own FBC hook on an eager copy, and a hand-written FBC loop
for the plain PyTorch DiT (which diffusers' block registry does not know)."""

from __future__ import annotations

import copy
import math

import torch
from diffusers import FirstBlockCacheConfig
from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS
from torch.nn import functional as F

from cachepass.models import DemoModel

TIMESTEPS_12 = [float(t) for t in torch.linspace(999, 0, 12)]

# Thresholds at which diffusers' hook skips some steps of a 12-step generation but not all, on the tiny
# random-weight families of tests/families.py (measured with the hook: the relative first-block residual
# change is 0.2-0.4 on Flux/HunyuanVideo/CogVideoX and 0.03-0.1 on Wan/LTX).
THRESHOLDS = {"flux": 0.3, "wan": 0.06, "hunyuanvideo": 0.3, "cogvideox": 0.3, "ltx": 0.08}


class FBCHooked:
    """An eager deep copy of a model carrying diffusers' FirstBlockCache hook, called inside
    `cache_context(context)` as pipelines do. `computed[i]` says whether call i ran the blocks after the
    first (a probe on the last block's first submodule, which runs only then)."""

    def __init__(self, demo: DemoModel, threshold: float, context: str = "cond") -> None:
        self.demo = demo
        self.context = context
        self.module = copy.deepcopy(demo.module)
        self.module.enable_cache(FirstBlockCacheConfig(threshold=threshold))
        lists = [child for name, child in self.module.named_children()
                 if name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS and isinstance(child, torch.nn.ModuleList)]
        last = lists[-1][-1]
        self.computed: list[bool] = []
        next(last.children()).register_forward_hook(lambda *_: self.computed.__setitem__(-1, True))

    def __call__(self, timestep: float, batch: int | None = None) -> torch.Tensor:
        self.computed.append(False)
        with torch.no_grad(), self.module.cache_context(self.context):
            return self.demo(self.module, timestep, batch)

    def reset(self) -> None:  # what a pipeline does at the end of __call__
        self.module._reset_stateful_cache()


def compiled_call(demo: DemoModel, compiled, timestep: float, context: str | None = "cond",
                  batch: int | None = None) -> torch.Tensor:
    with torch.no_grad():
        if context is None:
            return demo(compiled, timestep, batch)
        with demo.module.cache_context(context):
            return demo(compiled, timestep, batch)


class PlainDiTFBC:
    """FirstBlockCache on `cachepass.models.PlainVideoDiT`, written out by hand: run block 0, compare its
    residual with the last computed step's, then run the other blocks or add their cached residual."""

    def __init__(self, model: torch.nn.Module, threshold: float, blocks: torch.nn.ModuleList | None = None) -> None:
        self.model, self.threshold = model, threshold
        self.blocks = model.blocks if blocks is None else blocks
        self.previous: torch.Tensor | None = None
        self.tail: torch.Tensor | None = None
        self.computed: list[bool] = []

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        m = self.model
        batch, channels, frames, height, width = x.shape
        h = m.embed(x.transpose(1, 2).reshape(batch * frames, channels, height, width))
        h = h.flatten(2).transpose(1, 2).reshape(batch, frames, -1, m.dim)
        half = m.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        angles = timestep.float()[:, None] * freqs[None]
        temb = m.time_mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1))
        blocks = self.blocks
        first = blocks[0](h, temb, context)
        residual = first - h
        compute = self.previous is None or float((residual - self.previous).abs().mean()
                                                 / self.previous.abs().mean()) > self.threshold
        self.computed.append(compute)
        if compute:
            out = first
            for block in blocks[1:]:
                out = block(out, temb, context)
            self.previous, self.tail = residual, out - first
        else:
            out = self.tail + first
        out = m.proj_out(m.norm_out(out))
        p, gh, gw = m.patch, height // m.patch, width // m.patch
        out = out.reshape(batch, frames, gh, gw, channels, p, p).permute(0, 4, 1, 2, 5, 3, 6)
        return out.reshape(batch, channels, frames, height, width)


READ_METHODS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "numpy")


def count_host_reads(monkeypatch) -> list[str]:
    """Patch every tensor method that reads values to the host; returns the list the calls are appended to.
    (Inductor's compiled code and Dynamo's guards do not call them: what is counted is the runtime's own.)"""
    reads: list[str] = []
    for name in READ_METHODS:
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: (reads.append(_n),
                                                                                            _o(self, *a, **k))[1])
    return reads


def host_reads_of_a_second_generation(demo: DemoModel, compiled, timesteps, monkeypatch) -> list[str]:
    """Run one generation to compile, then count the runtime's host reads over a second one, which must
    not recompile (`fail_on_recompile`)."""
    for t in timesteps:
        compiled_call(demo, compiled, t)
    reads = count_host_reads(monkeypatch)
    with torch.compiler.set_stance("fail_on_recompile"):
        for t in timesteps:
            compiled_call(demo, compiled, t)
    monkeypatch.undo()
    return reads


__all__ = ["count_host_reads", "host_reads_of_a_second_generation", "F", "FBCHooked", "PlainDiTFBC", "THRESHOLDS", "TIMESTEPS_12", "compiled_call"]
