"""The plan is a pure function; its decisions must equal what diffusers' PAB hook does."""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from diffusers.hooks import HookRegistry
from diffusers.hooks.pyramid_attention_broadcast import _apply_pyramid_attention_broadcast_hook

from cachepass.compiler.attention import KINDS
from cachepass.methods.pab.config import PABConfig
from cachepass.methods.pab.plan import Plan, variant_name
from cachepass.timesteps import timesteps_linspace


class Counting(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self) -> torch.Tensor:
        self.calls += 1
        return torch.tensor(float(self.calls))


def hook_decisions(config: PABConfig, timesteps: list[float]) -> list[frozenset[str]]:
    """Which kinds diffusers' hook reuses at each call, observed on one counting module per kind."""
    clock = {"t": None}
    modules = {}
    for kind, rule in config.rules().items():
        modules[kind] = Counting()
        _apply_pyramid_attention_broadcast_hook(modules[kind], (rule.low, rule.high), rule.skip, lambda: clock["t"])
    decisions = []
    for t in timesteps:
        clock["t"] = t
        reused = set()
        for kind, module in modules.items():
            before = module.calls
            module()
            if module.calls == before:
                reused.add(kind)
        decisions.append(frozenset(reused))
    for module in modules.values():
        HookRegistry.check_if_exists_or_initialize(module).reset_stateful_hooks()
    return decisions


def random_config(rng: random.Random) -> PABConfig:
    kwargs = {}
    for kind in KINDS:
        low = rng.choice([0, 50, 100, 200, 400])
        kwargs[f"{kind}_skip"] = rng.choice([None, 1, 2, 3, 4, 5])
        kwargs[f"{kind}_timesteps"] = (low, low + rng.choice([100, 300, 700, 1000]))
    if all(v is None for k, v in kwargs.items() if k.endswith("_skip")):
        kwargs["spatial_skip"] = 2
    return PABConfig(**kwargs)


def random_schedule(rng: random.Random) -> list[float]:
    steps = rng.choice([1, 2, 5, 12, 30, 50])
    timesteps = sorted((rng.uniform(0, 1000) for _ in range(steps)), reverse=True)
    if rng.random() < 0.3:  # repeated timesteps, as with sequential cond/uncond calls
        timesteps = [t for t in timesteps for _ in range(2)]
    return timesteps


@pytest.mark.parametrize("seed", range(40))
def test_plan_equals_diffusers_hook(seed):
    rng = random.Random(seed)
    config, timesteps = random_config(rng), random_schedule(rng)
    plan = Plan(config.rules())
    assert [d.reuse for d in plan.simulate(timesteps)] == hook_decisions(config, timesteps)


@pytest.mark.parametrize("seed", range(40))
def test_every_reuse_reads_a_stored_value(seed):
    """The runtime only keeps what the plan says to store; every planned read must find it."""
    rng = random.Random(seed)
    config, timesteps = random_config(rng), random_schedule(rng)
    stored: dict[str, bool] = {}
    for decision in Plan(config.rules()).simulate(timesteps):
        for kind in decision.reuse:
            assert stored.get(kind), f"{kind} reused at {decision} but not stored"
        for kind in config.rules():
            if kind not in decision.reuse:
                stored[kind] = kind in decision.store


def test_cogvideox_defaults_over_50_steps():
    plan = Plan(PABConfig().rules())
    decisions = plan.simulate(timesteps_linspace(50))
    reused = [i for i, d in enumerate(decisions) if d.reuse]
    inside = [i for i, d in enumerate(decisions) if 100 < d.timestep < 800]
    assert reused == [i for i in inside if i % 2 == 1]
    assert plan.variants(timesteps_linspace(50)) == [frozenset(), frozenset({"spatial"})]
    assert not decisions[-1].store  # below the range: nothing worth keeping


def test_variant_names():
    assert variant_name(frozenset()) == "compute"
    assert variant_name(frozenset({"temporal", "cross"})) == "reuse-cross+temporal"


@pytest.mark.parametrize("seed", range(40))
def test_reachable_variants_cover_every_schedule_and_no_more(seed):
    """`Plan.reachable()` (compiled up front for graphs with symbolic sizes, NOTE [Variants of a dynamic-shape
    graph compile with it]) holds every variant the plan takes on 200 random schedules (the plan is the hook's,
    test above), and every
    maximal variant in it is taken on some schedule (dense timesteps, many steps): no variant compiled for
    nothing beyond the subsets a refused read can run."""
    rng = random.Random(seed)
    config = random_config(rng)
    plan = Plan(config.rules())
    reachable = set(plan.reachable())
    for _ in range(200):
        timesteps = random_schedule(rng)
        assert {d.reuse for d in plan.simulate(timesteps)} <= reachable
    assert all(frozenset(sub) in reachable for key in reachable for sub in itertools.combinations(key, 1))
    # 0.5 apart: at least 100 consecutive steps inside every interval between the (integer, >= 50 apart)
    # window bounds, so every phase of the skips' period (at most lcm(3, 4, 5) = 60) in each
    dense = [t / 2 for t in range(2000, -1, -1)]
    seen = {d.reuse for d in plan.simulate(dense)}
    maximal = {key for key in reachable if not any(key < other for other in reachable)}
    assert maximal <= seen
