"""A CFG skip around an inner cache (methods/__init__.py, NOTE [What composes]): the inner cache's states per row
set, and the composed plan that predicts what each row set's chain compiles.

# NOTE [A CFG skip around a cache]
# With batched CFG the denoiser's inputs hold [uncond; cond] rows. A CFG skip (FasterCache's) decides per model call
# whether the whole CFG batch 2B runs or only the conditional half B, the unconditional output then estimated (its
# frequency deltas). The inner cache (FirstBlockCache, PAB) runs inside whatever rows run: the backend driver builds
# the inner method's runtime twice, on the full capture and on the CFG skip's half-batch capture (a second Dynamo
# graph of the same forward), and hands both to the CFG skip's runtime. What the inner cache keeps from one call for
# a later one -- a residual of 2B rows, attention outputs of 2B rows -- cannot serve a call of B rows, and the half
# rows' values change from the full rows' by the unconditional half as well: so each row set keeps ONE STATE of its
# own, a chain of its own -- a full call compares with (FirstBlockCache) or reuses (PAB) the last full call that
# computed, a half call the last half call, and each chain counts its own calls (PAB's `iteration % skip`). The half
# runtime gets its own state registry (`row_set_states`, one per method's registry and row set, not per compile):
# keyed by the same first parameter, reset by the same pipeline resets and `cachepass.reset`, found by the half
# graphs of a recompile too. No key changes inside the inner method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch.utils.weak import WeakIdKeyDictionary

from .registry import state_registry

ROW_SETS = ("full", "half")  # the whole CFG batch, its conditional half
_ROW_SET_STATES: dict[tuple[int, str], WeakIdKeyDictionary] = {}


def row_set_states(states: WeakIdKeyDictionary, row_set: str | None) -> WeakIdKeyDictionary:
    """The state registry of a method's runtime on `row_set`: its own registry for the full rows (None or "full"), a
    registry of its own for another row set (NOTE [A CFG skip around a cache])."""
    if row_set in (None, "full"):
        return states
    key = (id(states), row_set)  # a method's registry lives as long as its module: its id is never reused
    if key not in _ROW_SET_STATES:
        _ROW_SET_STATES[key] = state_registry()
    return _ROW_SET_STATES[key]


@dataclass(frozen=True)
class CFGSplitPlan:
    """The plan of a CFG skip around an inner cache: which rows each call runs, and per row set the inner cache's
    decisions. Pure: `variants` predicts what a generation compiles (given the inner decision values where the inner
    cache decides on data)."""

    outer: Any  # the CFG skip's plan: `rows(timesteps)` is "full" or "half" per step
    inner: Any  # the inner cache's plan: its compiled variants in order of first use from `pieces(values)`
    #             (a data-dependent decision) or `variants(timesteps)` (a decision from the timesteps alone)

    def chains(self, timesteps: Sequence[float]) -> dict[str, list[int]]:
        """The steps of each row set's chain, in order."""
        chains: dict[str, list[int]] = {rows: [] for rows in ROW_SETS}
        for step, rows in enumerate(self.outer.rows(timesteps)):
            chains[rows].append(step)
        return chains

    def variants(self, timesteps: Sequence[float], values: Sequence[float] | None = None) -> dict[str, list[Any]]:
        """Per row set, the inner cache's compiled variants a generation uses, in order of first use. A
        data-dependent inner cache (FirstBlockCache: `pieces(values)`) needs `values[i]`, the inner decision value
        of step i in its own chain (a chain's first is not looked at); one whose plan needs the timesteps alone
        (PAB: `variants(timesteps)`) takes None, each chain's plan run over that chain's own timesteps."""
        chains = self.chains(timesteps).items()
        if values is None:
            return {rows: self.inner.variants([timesteps[i] for i in steps]) for rows, steps in chains}
        return {rows: self.inner.pieces([values[i] for i in steps]) if steps else [] for rows, steps in chains}
