"""The tail half of a step cut in two (compiler/pieces.py): after the head ran and the method decided, run
the compute tail (and keep the head's residual and the tail residuals it wrote) or the reuse tail (with the kept
tail residuals, read only when the store's validator accepts them). The runtime of FirstBlockCache, DBCache and
TeaCache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from .calibrated import CalibratedRuntime
from .store import Stamp, read_problem


Piece = Literal["head", "head+decide", "tail-compute", "tail-reuse"]  # the pieces of a head/tail step
PIECES: tuple[Piece, ...] = ("head", "head+decide", "tail-compute", "tail-reuse")


class HeadTailDecision:
    """The pieces a step's decision runs (the decision, a frozen dataclass, has `compute` and words `head`)."""

    compute: bool
    head: Piece

    @property
    def tail(self) -> Piece:
        return "tail-compute" if self.compute else "tail-reuse"

    @property
    def pieces(self) -> tuple[Piece, Piece]:
        return self.head, self.tail


class HeadTailStep:
    """The step-record side of a head/tail method whose tail computes all blocks or reuses them (the record, a
    frozen dataclass, has `compute`)."""

    compute: bool

    @property
    def variant(self) -> str:
        return "compute" if self.compute else "reuse"

    @property
    def reused(self) -> frozenset[str]:
        return frozenset() if self.compute else frozenset({"blocks"})


class HeadTailRuntime(CalibratedRuntime):
    """A GraphRuntime whose steps run a head piece and one tail piece. Its `prepare` sets `stack` (a
    compiler.blocks.BlockStack), `_head_slot`, `_tail_slots`; `tail_words` names them in warnings."""

    tail_words = ("cachepass", "tail residual")  # (method, what a tail slot holds)
    tail_keys = ("tail-reuse", "tail-compute")  # the variant keys of the (reuse, compute) tails

    def run_tail(self, ctx: Any, compute: bool, args: Sequence[Any], handed: Sequence[torch.Tensor],
                 residual: torch.Tensor | None, stamp: Stamp) -> list[torch.Tensor]:
        """With `residual`, a compute step frees the whole store and keeps it in the head slot; without, it frees
        only the tail slots (the caller keeps its head slot itself). Composed with a calibrator, a tail slot's
        entry holds its factors (calibrated.py)."""
        reuse_key, compute_key = self.tail_keys
        calibrator = self.calibrator_of(ctx)
        if not compute:
            tail = self.variant(reuse_key)
            reads = [self.reused(ctx.store.get(slot.ident), slot, calibrator) for slot in self._tail_slots]
            return list(tail.fn(*args, *handed, *reads)[: self.captured.num_outputs])
        tail = self.variant(compute_key)
        kept = self.kept_before_compute(ctx, calibrator, stamp, self._tail_slots)
        if residual is None:
            ctx.store.drop([slot.ident for slot in self._tail_slots])  # free the old residuals before the new exist
        else:
            ctx.store.clear()  # free the old residuals before the new ones exist
        outputs = tail.fn(*args, *handed)
        if residual is not None:
            ctx.store.put(self._head_slot.ident, stamp, self.keep(residual))
        for slot, tensor in zip(self._tail_slots, outputs[tail.variant.num_outputs:]):
            self.put_residual(ctx, slot, stamp, tensor, kept)
        return list(outputs[: self.captured.num_outputs])

    # -- a composed residual calibrator (calibrated.py) ------------------------------------------
    def is_hidden(self, slot: Any) -> bool:
        return slot.index == self.hidden_index()

    def hidden_index(self) -> int:
        """The tail slot index of the hidden stream."""
        return self.stack.hidden

    def tails_readable(self, ctx: Any, stamp: Stamp) -> bool:
        method, what = self.tail_words
        for slot in self._tail_slots:
            entry = ctx.store.get(slot.ident)
            problem = read_problem(entry, f"the {what} of stream {self.stream_name(slot.index)}", stamp, slot.spec)
            if problem is not None:
                if entry is not None:
                    self._warn_once(f"tail:{problem.split(':')[0]}", f"{method}: not reusing the {what}s at step "
                                    f"{self.step_number(ctx)}: {problem}; computing all blocks.")
                return False
        return True

    def stream_name(self, index: int) -> str:
        return self.stack.streams[index].name

    def step_number(self, ctx: Any) -> int:
        """The step a warning names."""
        return ctx.iteration
