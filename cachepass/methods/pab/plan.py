"""Stage 3, plan: a pure function from (tags, config, iteration, timestep) to what each kind does.

Pyramid Attention Broadcast as diffusers implements it (hooks/pyramid_attention_broadcast.py): an
attention module computes when its cache is empty, on the first call after a reset, when the
timestep lies outside the open interval `(low, high)`, or when `iteration % skip == 0`; otherwise
it returns its cached output. Every module of a graph is called once per forward, so all modules of
one kind share one decision: the step's *variant* is the set of kinds that are reused.

The plan also says which kinds are worth storing after they are computed: once the timestep is at or
below a kind's `low`, no later step of the same generation can reuse it (timesteps decrease within a
generation; a rise starts a new one), so the runtime drops that cache instead of holding it.

Nothing here touches FX or tensors, so every policy question is testable in microseconds.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ...compiler.attention import Kind
from ...compiler.attention import TagResult
from .config import KindRule, PABConfig

logger = logging.getLogger(__name__)

VariantKey = frozenset  # frozenset[Kind]: the kinds read from the cache


@dataclass(frozen=True)
class StepDecision:
    iteration: int
    timestep: float
    reuse: VariantKey  # kinds whose cached outputs are read this step
    store: frozenset[Kind]  # computed kinds whose outputs are kept for later steps

    @property
    def variant(self) -> str:
        return variant_name(self.reuse)


@dataclass(frozen=True)
class Plan:
    rules: Mapping[Kind, KindRule]  # the cached kinds present in the graph

    @property
    def kinds(self) -> frozenset[Kind]:
        return frozenset(self.rules)

    def decide(self, iteration: int, timestep: float) -> StepDecision:
        reuse = frozenset(k for k, rule in self.rules.items() if rule.may_reuse(iteration, timestep))
        store = frozenset(k for k, rule in self.rules.items() if k not in reuse and timestep > rule.low)
        return StepDecision(iteration, float(timestep), reuse, store)

    def simulate(self, timesteps: Iterable[float]) -> list[StepDecision]:
        """The decisions of one generation over `timesteps`, as the runtime will take them when every
        cache read is valid."""
        return [self.decide(i, float(t)) for i, t in enumerate(timesteps)]

    def variants(self, timesteps: Sequence[float]) -> list[VariantKey]:
        """Distinct variants a generation over `timesteps` uses, in order of first use."""
        return list(dict.fromkeys(d.reuse for d in self.simulate(timesteps)))

    def reachable(self) -> list[VariantKey]:
        """Every variant some generation can run, whatever its timesteps, in a fixed order (fewer kinds first).

        A kind's decision depends on `iteration % skip` and on which open window holds the timestep, so the
        iterations of one period (the skips' least common multiple) times one timestep inside each interval
        between the windows' bounds cover every decision. The result is closed under subsets: the runtime
        computes a kind instead when its cache read is refused, so a step may run fewer kinds than planned."""
        period = math.lcm(*(rule.skip for rule in self.rules.values())) if self.rules else 1
        bounds = sorted({b for rule in self.rules.values() for b in (rule.low, rule.high)})
        points = [(a + b) / 2 for a, b in zip(bounds, bounds[1:])]
        planned = {self.decide(i, t).reuse for i in range(1, period + 1) for t in points}
        closed = {frozenset(sub) for key in planned for n in range(len(key) + 1)
                  for sub in itertools.combinations(sorted(key), n)}
        return sorted(closed, key=lambda key: (len(key), sorted(key)))


def make_plan(tags: TagResult, config: PABConfig) -> Plan:
    present = tags.cached_kinds()
    plan = Plan({kind: rule for kind, rule in config.rules().items() if kind in present})
    for kind, rule in plan.rules.items():
        logger.debug("plan: %s attention reuses on iterations not divisible by %d while %g < timestep < %g",
                     kind, rule.skip, rule.low, rule.high)
    for kind in sorted(set(config.rules()) - present):
        logger.debug("plan: %s is configured but no %s attention site is cached in this graph", kind, kind)
    return plan


def variant_name(reuse: Iterable[Kind]) -> str:
    """`compute` for the variant that runs all attention, else e.g. `reuse-cross+spatial`."""
    kinds = sorted(reuse)
    return "compute" if not kinds else "reuse-" + "+".join(kinds)


