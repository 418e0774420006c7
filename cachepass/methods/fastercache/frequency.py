"""FasterCache's CFG-Cache beside the graph: the frequency deltas of `uncond - cond` and the unconditional estimate.

On a step that runs both branches, `uncond - cond` is split into its low- and high-frequency parts (a centred
low-pass disc in Fourier space, diffusers' faster_cache.py:636-654) and kept, fp32, in real space; on a step that
skips the unconditional branch it is estimated as `cond + a_l R_low + a_h R_high`, the weights compounded on every
skip step. The graph can do both itself (rewrite.py: `deltas="graph"`, `estimate="graph"`); these are the same
equations for the calls it does not.
"""

from __future__ import annotations

from typing import Any

import torch

from ...runtime.store import Stamp
from .state import DELTAS, FCState


class FrequencyDeltas:
    """Splits and stores `uncond - cond`; keeps the low-pass masks it built, one per (H, W, device)."""

    def __init__(self) -> None:
        self._masks: dict[tuple, torch.Tensor] = {}

    def store(self, state: FCState, uncond: torch.Tensor, cond: torch.Tensor, stamp: Stamp) -> None:
        delta = (uncond - cond).float()
        height, width = delta.shape[-2:]
        low = torch.fft.irfft2(torch.fft.rfft2(delta) * self.mask(height, width, delta.device), s=(height, width))
        state.frequency.put(DELTAS, stamp, low.contiguous(), (delta - low).contiguous())
        state.alpha = (1.0, 1.0)

    def mask(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """diffusers' centred low-pass disc (faster_cache.py:636-654), un-shifted, on rfft's half plane."""
        key = (height, width, device)
        mask = self._masks.get(key)
        if mask is None:
            radius = min(height, width) // 5
            y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            disc = (x - width // 2) ** 2 + (y - height // 2) ** 2 <= radius ** 2
            mask = self._masks[key] = torch.fft.ifftshift(disc)[:, : width // 2 + 1].float().to(device)
        return mask


def estimate(cond: torch.Tensor, state: FCState) -> torch.Tensor:
    """The unconditional output, beside the graph: `c + a_l R_l + a_h R_h` (real space)."""
    low_weight, high_weight = state.alpha
    low, high = state.deltas.tensors
    return (cond.float() + low * low_weight + high * high_weight).to(cond.dtype)


def next_alpha(state: FCState, config: Any, plan: Any, root: Any, timestep: float) -> tuple[Any, Any]:
    """diffusers multiplies the stored deltas by the frequency callbacks on every skip step (l.307-312); the
    callbacks get the calling model (`root`), as diffusers passes its own."""
    low = config.low_freq_weight(root) if config.low_freq_weight else plan.low_freq.weight(timestep)
    high = config.high_freq_weight(root) if config.high_freq_weight else plan.high_freq.weight(timestep)
    return state.alpha[0] * low, state.alpha[1] * high


def with_estimate(cond: torch.Tensor, state: FCState) -> torch.Tensor:
    """A half call's prediction as the full batch's: `[estimate; cond]` rows."""
    return torch.cat([estimate(cond, state), cond], dim=0)
