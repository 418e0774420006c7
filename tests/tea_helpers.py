"""TeaCache's reference loop, written from the authors' published equations (ali-vilab/TeaCache,
TeaCache4FLUX/teacache_flux.py, TeaCache4Wan2.1/teacache_generate.py): an eager copy whose blocks are wrapped so
that, before block 0 runs, the indicator's relative L1 change is rescaled with numpy.poly1d and accumulated, and a
skip step runs no block at all (the last one adds the cached residual, or cache-dit's calibrator's prediction of
it)."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import torch


def indicator(family: str, block: torch.nn.Module, bound: dict) -> torch.Tensor:
    """The indicator from block 0 and its bound arguments, as the authors' scripts compute it."""
    if family == "flux":  # teacache_flux.py: transformer_blocks[0].norm1(inp, emb=temb)
        return block.norm1(bound["hidden_states"].clone(), emb=bound["temb"].clone())[0]
    if family == "ltx":  # teacache_ltx.py: norm1(inp) * (1 + scale_msa) + shift_msa, from the block's table
        hidden, temb, table = bound["hidden_states"], bound["temb"], block.scale_shift_table
        ada = table[None, None] + temb.reshape(hidden.size(0), temb.size(1), table.shape[0], -1)
        shift, scale = ada.unbind(dim=2)[:2]
        return block.norm1(hidden) * (1 + scale) + shift
    # teacache_generate.py (use_ret_steps): e0, the blocks' timestep projection; TeaCache4CogVideoX1.5's
    # teacache_sample_video.py: emb, the timestep embedding every block reads
    return bound["temb"]


class Gate(torch.nn.Module):
    """One block of the reference: runs it on compute steps, passes its stream inputs on (no work) on skip steps."""

    def __init__(self, ref: "TeaReference", block: torch.nn.Module, first: bool, last: bool) -> None:
        super().__init__()
        self.ref, self.block, self.first, self.last = ref, block, first, last
        self.signature = inspect.signature(block.forward)

    def forward(self, *args, **kwargs):
        bound = self.signature.bind(*args, **kwargs).arguments
        if self.first:
            self.ref.decide(self.block, bound)
        if self.ref.compute:
            out = self.block(*args, **kwargs)
            if self.last:
                self.ref.residual = self.ref.hidden_of(out) - self.ref.hidden_in
                if self.ref.calibrator is not None:
                    self.ref.calibrator.update(self.ref.residual, name="Bn")
            return out
        residual = (self.ref.calibrator.approximate(name="Bn") if self.ref.calibrator is not None
                    else self.ref.residual) if self.last else None
        hidden = bound["hidden_states"] + residual if self.last else bound["hidden_states"]
        return self.ref.pack(hidden, bound.get("encoder_hidden_states"))


class TeaReference:
    """The authors' loop: cnt, accumulated_rel_l1_distance, previous_modulated_input, previous_residual."""

    LISTS = {"flux": ("transformer_blocks", "single_transformer_blocks"), "wan": ("blocks",),
             "cogvideox": ("transformer_blocks",)}

    def __init__(self, demo, family: str, threshold: float, coefficients, steps: int,
                 calibrator_order: int | None = None) -> None:
        self.demo, self.family, self.module = demo, family, copy.deepcopy(demo.module)
        # With a calibrator order: the skipped residual predicted by cache-dit's own TaylorSeer calibrator, new
        # each generation (as cache-dit refreshes its context), its step begun before every step's blocks.
        self.calibrator_order, self.calibrator = calibrator_order, None
        self.threshold, self.rescale, self.steps = threshold, np.poly1d(coefficients), steps
        self.cnt, self.accumulated, self.previous, self.residual = 0, 0.0, None, None
        self.computed: list[bool] = []
        lists = [getattr(self.module, name) for name in self.LISTS[family]]
        count = sum(len(blocks) for blocks in lists)
        index = 0
        for blocks in lists:
            for i in range(len(blocks)):
                blocks[i] = Gate(self, blocks[i], index == 0, index == count - 1)
                index += 1

    def indicator(self, block, bound) -> torch.Tensor:
        return indicator(self.family, block, bound)

    def hidden_of(self, out):
        return {"flux": lambda: out[1], "cogvideox": lambda: out[0]}.get(self.family, lambda: out)()

    def pack(self, hidden, encoder):
        # CogVideoX: the authors also add an encoder residual; diffusers' model never reads the text stream after
        # the blocks (sliced off or unused), so passing it on unchanged gives the same output
        return {"flux": (encoder, hidden), "cogvideox": (hidden, encoder)}.get(self.family, hidden)

    def decide(self, block, bound) -> None:
        if self.calibrator_order is not None:
            from cache_dit.caching.cache_contexts.calibrators import TaylorSeerCalibrator

            if self.cnt == 0:
                self.calibrator = TaylorSeerCalibrator(n_derivatives=self.calibrator_order)
            self.calibrator.mark_step_begin()
        modulated = self.indicator(block, bound)
        if self.cnt == 0 or self.cnt == self.steps - 1:
            self.compute, self.accumulated = True, 0.0
        else:
            change = ((modulated - self.previous).abs().mean() / self.previous.abs().mean()).cpu().item()
            self.accumulated += self.rescale(change)
            self.compute = not self.accumulated < self.threshold
            if self.compute:
                self.accumulated = 0.0
        self.previous = modulated
        self.hidden_in = bound["hidden_states"]
        self.computed.append(self.compute)
        self.cnt = (self.cnt + 1) % self.steps

    def __call__(self, timestep: float) -> torch.Tensor:
        with torch.no_grad():
            return self.demo(self.module, timestep)
