"""A runtime whose skipped steps reuse block-stack residuals kept in store slots, which a composed calibrator
(calibrate.py) may predict instead: the method-neutral half of every stack skip that composes (HeadTailRuntime
for FirstBlockCache, DBCache and TeaCache; MagCache's and SeaCache's whole-graph runtimes).

The protocol, per model step: `calibrator_of` once (it begins the calibrator's step); on a computed step
`kept_before_compute` reads the factors the last computed step kept, before anything frees them, and
`put_residual` keeps the new residual with its updated factors in the slot's ONE store entry, highest order
first (`entry.tensor` is the residual itself), so the store's one read validator checks them like any cached
tensor; on a skipped step `reused` gives the prediction from those factors instead of the residual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .base import GraphRuntime
from .calibrate import CalibratorState
from .store import Stamp, read_problem


class CalibratedRuntime(GraphRuntime):
    """A GraphRuntime with residual slots a composed calibrator may predict; a subclass says which slot holds the
    hidden stream's residual (`is_hidden`)."""

    def is_hidden(self, slot: Any) -> bool:
        """Whether `slot` holds the hidden stream's residual (else another stream's, e.g. the text stream's)."""
        raise NotImplementedError

    def calibrator_of(self, ctx: Any) -> CalibratorState | None:
        """This generation's calibrator of `ctx`, its step begun (called once per model step), or None."""
        calibration = self.options.calibration
        if calibration is None:
            return None
        if ctx.calibrator is None:
            ctx.calibrator = calibration.new_state()
        ctx.calibrator.begin_step()
        return ctx.calibrator

    def predicted(self, slot: Any) -> bool:
        """Whether the calibrator predicts this slot's residual (the hidden stream's, or another's)."""
        return self.options.calibration.predicts(self.is_hidden(slot))

    def kept_before_compute(self, ctx: Any, calibrator: CalibratorState | None, stamp: Stamp,
                            slots: Sequence[Any]) -> dict[str, tuple[torch.Tensor, ...]]:
        """A computed step's factors of the last computed one, per predicted slot of `slots`, read before the
        store frees them (none without a calibrator)."""
        if calibrator is None:
            return {}
        return {slot.ident: self.kept_factors(ctx, slot, stamp) for slot in slots if self.predicted(slot)}

    def kept_factors(self, ctx: Any, slot: Any, stamp: Stamp) -> tuple[torch.Tensor, ...]:
        """The factors the last computed step kept for `slot`, lowest order first; none when the validator
        refuses them (another generation, context or input shape)."""
        entry = ctx.store.get(slot.ident)
        if read_problem(entry, f"the factors of {slot.ident}", stamp, slot.spec) is not None:
            return ()
        return tuple(reversed(entry.tensors))

    def put_residual(self, ctx: Any, slot: Any, stamp: Stamp, tensor: torch.Tensor,
                     kept: dict[str, tuple[torch.Tensor, ...]]) -> None:
        """Keep a computed step's residual of `slot`: with the calibrator's factors updated from the ones
        `kept_before_compute` read for it (popped), else as it is."""
        factors = (self.keep(tensor),)
        if slot.ident in kept:
            factors = ctx.calibrator.update(slot.ident, factors[0], kept.pop(slot.ident))
        ctx.store.put(slot.ident, stamp, *reversed(factors))

    def reused(self, entry: Any, slot: Any, calibrator: CalibratorState | None) -> torch.Tensor:
        """What a skipped step reads for a residual slot whose entry the validator accepted: the residual, or the
        calibrator's prediction of it."""
        if calibrator is None or not self.predicted(slot):
            return entry.tensor
        return calibrator.predict(slot.ident, tuple(reversed(entry.tensors)))


__all__ = ["CalibratedRuntime"]
