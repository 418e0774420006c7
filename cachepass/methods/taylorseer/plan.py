"""TaylorSeer stage 3, plan: a pure function of the step counter (diffusers' `_measure_should_compute`).

    compute  <=>  step < before  or  (step - before - 1) % interval == 0  or  (after is not None and step >= after)

On a compute step every cached module updates its Taylor factors: order 0 is the output, order j+1 is
`(order j - previous order j) / (step - last update)`, up to `max_order` (the number of orders grows by one
per update). On the other steps it predicts `sum_j factor_j * offset^j / j!` with `offset = step - last
update`. A variant is (compute, orders read) or (predict, orders held): its factor powers enter as tensor
inputs, so the values never recompile. A predict step without any update computes instead (diffusers raises).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import TSConfig


@dataclass(frozen=True)
class TSState:
    step: int = -1  # diffusers' current_step before the next call
    last_update: int | None = None
    orders: int = 0  # Taylor orders held (0: no update yet)


@dataclass(frozen=True)
class TSDecision:
    step: int
    compute: bool
    orders: int  # compute: orders read (the previous update's); predict: orders used
    delta: int  # compute: steps since the last update (0 on the first); predict: the offset
    coefficients: tuple[float, ...] = ()  # predict: offset^j / j!

    @property
    def variant(self) -> tuple[str, int]:
        return ("compute" if self.compute else "predict", self.orders)

    @property
    def name(self) -> str:
        return variant_name(self.variant)


def variant_name(key: tuple[str, int]) -> str:
    return f"{key[0]}-o{key[1]}"


@dataclass(frozen=True)
class TSPlan:
    config: TSConfig

    def decide(self, state: TSState) -> tuple[TSDecision, TSState]:
        c, step = self.config, state.step + 1
        compute = (step < c.disable_cache_before_step
                   or (step - c.disable_cache_before_step - 1) % c.cache_interval == 0
                   or (c.disable_cache_after_step is not None and step >= c.disable_cache_after_step))
        if compute or state.last_update is None:
            read = 0 if state.last_update is None else min(state.orders, c.max_order)  # previous orders used
            delta = 0 if state.last_update is None else step - state.last_update
            return TSDecision(step, True, read, delta), TSState(step, step, read + 1)
        offset = step - state.last_update
        coefficients = tuple(offset ** j / math.factorial(j) for j in range(state.orders))
        return TSDecision(step, False, state.orders, offset, coefficients), TSState(step, state.last_update,
                                                                                      state.orders)

    def simulate(self, steps: int) -> list[TSDecision]:
        state, decisions = TSState(), []
        for _ in range(steps):
            decision, state = self.decide(state)
            decisions.append(decision)
        return decisions

    def variants(self, steps: int) -> list[tuple[str, int]]:
        return list(dict.fromkeys(d.variant for d in self.simulate(steps)))
