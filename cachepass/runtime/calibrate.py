"""Residual calibrators: what a stack skip reuses, predicted instead of repeated.

A method that skips the block stack (FirstBlockCache, DBCache, TeaCache: runtime/pieces.py's `HeadTailRuntime`;
MagCache and SeaCache: their whole-graph runtimes; all on calibrated.py's `CalibratedRuntime`) reuses the residual
its last computed step kept. Composed with a calibrator (`options={"cache": [skip,
calibrator]}`, methods/__init__.py `compose`), every computed step hands the calibrator the new residual and the
factors it kept (the store's entry, so the one read validator checks them like any cached tensor), and a
skipped step adds the calibrator's prediction from those factors instead. The calibrator's arithmetic is a few
elementwise ops per residual between the compiled pieces; no variant changes, so a composition compiles the
same pieces as its stack skip alone (SeaCache: fewer, its extrapolating variant is never used).

A calibrator is a package's config (a `Calibration`: cache-dit's TaylorSeer calibrator lives in
methods/taylorseer/calibrator.py); this module is its method-neutral contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch


class CalibratorState(ABC):
    """One generation's calibrator, per cache context: it counts model steps and keeps, per residual name,
    when that residual was last computed."""

    @abstractmethod
    def begin_step(self) -> None:
        """A model step starts (every step, computed or skipped, before `update` or `predict`)."""

    @abstractmethod
    def update(self, name: str, residual: torch.Tensor, kept: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The factors to keep for `name` after a computed step gave `residual`; `kept`: the factors kept before
        (empty when none). The first factor is the residual itself."""

    @abstractmethod
    def predict(self, name: str, kept: Sequence[torch.Tensor]) -> torch.Tensor:
        """The residual of `name` at this skipped step, from the factors kept at its last computed step."""


class Calibration(ABC):
    """A calibrator's validated config: which residuals it predicts and a fresh state per generation."""

    @abstractmethod
    def describe(self) -> str:
        """A short text for reports and logs, e.g. "TaylorSeer calibrator (order 1)"."""

    @abstractmethod
    def predicts(self, hidden: bool) -> bool:
        """Whether it predicts the residual of the hidden stream (True) or of another stream (False: e.g. the
        text stream of a dual-stream block); a residual it does not predict is reused as it is."""

    @abstractmethod
    def new_state(self) -> CalibratorState:
        """A fresh state: one per generation and cache context."""


__all__ = ["Calibration", "CalibratorState"]
