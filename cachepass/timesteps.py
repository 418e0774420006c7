"""Timesteps for simulating a schedule without a scheduler (dump, demo, bench, tests)."""

from __future__ import annotations


def timesteps_linspace(steps: int, first: float = 999.0, last: float = 0.0) -> list[float]:
    """Evenly spaced timesteps from `first` down to `last`, like most diffusers schedulers."""
    if steps == 1:
        return [first]
    return [first + (last - first) * i / (steps - 1) for i in range(steps)]
