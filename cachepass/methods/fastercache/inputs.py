"""Packing a FasterCache variant's call: the inputs after the graph's own, in the order rewrite.py appended them,
and its cache writes among the outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...compiler.lower import Lowered
from .state import FCState
from .tag import FCTags

VALUE_TENSORS_KEPT = 256  # distinct per-step weight/alpha tuples kept as tensors (alphas compound: bounded)


class InputPacker:
    """The extra inputs of a variant; per-step numbers become fp32 tensors, reused while they stay equal."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._value_tensors: dict[tuple, torch.Tensor] = {}

    def extras(self, lowered: Lowered, state: FCState, attention_weight: Any, tags: FCTags,
               mask: torch.Tensor | None) -> list[torch.Tensor]:
        """Inputs after the graph's own, in the order rewrite.py appended them (`mask`: the low-pass mask, for a
        variant that computes the deltas)."""
        variant = lowered.variant
        extras: list[torch.Tensor] = []
        if variant.reads:
            weight = attention_weight
            values = [weight(tags.module(slot.site)) if callable(weight) else weight for slot in variant.reads]
            extras.append(self.values_tensor(values))
            for slot in variant.reads:
                extras += state.blocks.get(slot.ident).tensors  # t_2, t
        if variant.estimate:
            extras += [*state.deltas.tensors, self.values_tensor(list(state.alpha))]
        if variant.deltas:
            extras.append(mask)
        return extras

    def values_tensor(self, values: list[Any]) -> torch.Tensor:
        """Per-step numbers (weights, alphas) as one fp32 tensor input. Equal numbers give the same tensor
        again: graphs never write their inputs, and a weight that stays 0.5 costs no new tensor per step."""
        try:
            key = tuple(values)
            tensor = self._value_tensors.get(key)
        except TypeError:  # an unhashable value (a callback returned an array): a tensor of its own
            return as_tensor(values, self.device)
        if tensor is None:
            if len(self._value_tensors) >= VALUE_TENSORS_KEPT:
                self._value_tensors.clear()
            tensor = as_tensor(values, self.device)
            if not any(isinstance(v, torch.Tensor) for v in values):  # a tensor value may change in place
                self._value_tensors[key] = tensor
        return tensor


def as_tensor(values: list[Any], device: torch.device) -> torch.Tensor:
    """Per-step values as one fp32 tensor input (callbacks may return tensors: no host sync for those)."""
    if any(isinstance(v, torch.Tensor) for v in values):
        return torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device).reshape(()) for v in values])
    tensor = torch.tensor(values, dtype=torch.float32)
    return tensor.to(device, non_blocking=True) if device.type != "cpu" else tensor


def cache_writes(lowered: Lowered, outputs: Sequence[torch.Tensor], num_outputs: int,
                 halves: bool = False) -> Sequence[torch.Tensor]:
    """The variant's cache writes among its outputs, or the conditional halves that follow them."""
    count = len(lowered.variant.writes)
    start = num_outputs + (count if halves else 0)
    return outputs[start: start + count]
