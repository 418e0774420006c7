"""The tail half of a step cut in two (compiler/pieces.py): after the head ran and the method decided, run
`tail-compute` (and keep the head's residual and the tail residuals it wrote) or `tail-reuse` (with the kept tail
residuals, read only when the store's validator accepts them). DBCache's runtime; FirstBlockCache's has the same
code (methods/fbc/dispatch.py) and can move onto it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .base import GraphRuntime
from .store import Stamp, read_problem


class HeadTailRuntime(GraphRuntime):
    """A GraphRuntime whose steps run a head piece and one tail piece. Its `prepare` sets `stack` (a
    compiler.blocks.BlockStack), `_head_slot`, `_tail_slots`; `tail_words` names them in warnings."""

    tail_words = ("cachepass", "tail residual")  # (method, what a tail slot holds)

    def run_tail(self, ctx: Any, compute: bool, args: Sequence[Any], handed: Sequence[torch.Tensor],
                 residual: torch.Tensor, stamp: Stamp) -> list[torch.Tensor]:
        if not compute:
            tail = self.variant("tail-reuse")
            reads = [ctx.store.get(slot.ident).tensor for slot in self._tail_slots]
            return list(tail.fn(*args, *handed, *reads)[: self.captured.num_outputs])
        tail = self.variant("tail-compute")
        ctx.store.clear()  # free the old residuals before the new ones exist
        outputs = tail.fn(*args, *handed)
        ctx.store.put(self._head_slot.ident, stamp, self.keep(residual))
        for slot, tensor in zip(self._tail_slots, outputs[tail.variant.num_outputs:]):
            ctx.store.put(slot.ident, stamp, self.keep(tensor))
        return list(outputs[: self.captured.num_outputs])

    def tails_readable(self, ctx: Any, stamp: Stamp) -> bool:
        method, what = self.tail_words
        for slot in self._tail_slots:
            entry = ctx.store.get(slot.ident)
            problem = read_problem(entry, f"the {what} of stream {self.stack.streams[slot.index].name}", stamp,
                                   slot.spec)
            if problem is not None:
                if entry is not None:
                    self._warn_once(f"tail:{problem.split(':')[0]}", f"{method}: not reusing the {what}s at step "
                                    f"{ctx.iteration}: {problem}; computing all blocks.")
                return False
        return True

    def keep(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.clone() if self._cudagraphs else tensor  # CUDA graph outputs live in its pool
