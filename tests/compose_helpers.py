"""cache-dit 1.5.3 in eager as the oracle: its DBCache (tests/test_dbcache.py) and its hybrid cache, a stack skip
with its TaylorSeer calibrator, for compositions (`options={"cache": [cache, calibrator]}`): tests/test_compose.py,
and regional compilation in test_regional.py."""

from __future__ import annotations

import copy

import cache_dit  # a test dependency: pyproject.toml's `test` extra
import torch

TIMESTEPS = [float(t) for t in torch.linspace(999, 0, 10)]


def db(**fields) -> cache_dit.DBCacheConfig:
    return cache_dit.DBCacheConfig(**{"Fn_compute_blocks": 1, "Bn_compute_blocks": 0, "max_warmup_steps": 0,
                                      "enable_separate_cfg": False, **fields})


def taylor(order: int = 1, **fields) -> cache_dit.TaylorSeerCalibratorConfig:
    return cache_dit.TaylorSeerCalibratorConfig(taylorseer_order=order, **fields)


def cache_dit_run(demo, cache_config, calibrator=None, generations: int = 2,
                  timesteps: list[float] = TIMESTEPS) -> tuple[list[torch.Tensor], list[str]]:
    """cache-dit on an eager deep copy, `refresh_context` before each generation (what its pipeline wrapper does
    per call): every step's output, and per generation its own record of the cached steps (`cache_dit.summary`)."""
    module = copy.deepcopy(demo.module)
    cache_dit.enable_cache(module, cache_config=cache_config, calibrator_config=calibrator)
    outputs, patterns = [], []
    for _ in range(generations):
        cache_dit.refresh_context(module)
        with torch.no_grad():
            outputs += [demo(module, t) for t in timesteps]
        cached = set(cache_dit.summary(module, logging=False)[0].cached_steps)
        patterns.append("".join("R" if i in cached else "C" for i in range(len(timesteps))))
    return outputs, patterns


# -- diffusers' MagCache and SeaCache hooks with cache-dit's calibrator predicting the reused residual --------
# The oracle of a MagCache / SeaCache composition: diffusers' own hook on an eager copy, its classes replaced
# (only while the hook is applied) by subclasses that feed every recorded residual to cache-dit's own
# TaylorSeerCalibrator and, on a reused step, add its prediction instead of the hook's residual. The calibrator is
# new for each generation (as cache-dit refreshes its context) and its step begins once per model step.

def taylor_calibrator(order: int):
    from cache_dit.caching.cache_contexts.calibrators import TaylorSeerCalibrator

    return TaylorSeerCalibrator(n_derivatives=order)


def mag_state_with_calibrator(order: int) -> type:
    """diffusers' MagCacheState whose `previous_residual`, read on a skip step, is the calibrator's prediction."""
    from diffusers.hooks.mag_cache import MagCacheState

    class CalibratedMagState(MagCacheState):
        def __init__(self) -> None:
            self.calibrator, self._residual, self._head = None, None, None
            super().__init__()

        @property
        def head_block_input(self):
            return self._head

        @head_block_input.setter
        def head_block_input(self, value) -> None:  # the head hook sets it first thing, every model step
            self._head = value
            if value is not None:
                self.calibrator = self.calibrator or taylor_calibrator(order)
                self.calibrator.mark_step_begin()

        @property
        def previous_residual(self):
            if self._residual is None or self.should_compute:
                return self._residual
            return self.calibrator.approximate(name="Bn")  # what the head hook adds on a skip step

        @previous_residual.setter
        def previous_residual(self, value) -> None:
            self._residual = value
            if value is None:
                self.calibrator = None  # the hook's end of a generation
            else:
                self.calibrator.update(value, name="Bn")

    return CalibratedMagState


def mag_hooked_with_calibrator(make_hooked, demo, cfg, order: int):
    """`make_hooked(demo, cfg)` (tests/test_magcache.py's MagHooked) with the calibrated state."""
    from unittest import mock

    from diffusers.hooks import mag_cache

    with mock.patch.object(mag_cache, "MagCacheState", mag_state_with_calibrator(order)):
        return make_hooked(demo, cfg)


def sea_hooked_with_calibrator(make_hooked, demo, cfg, order: int):
    """`make_hooked(demo, cfg)` (tests/test_seacache.py's SeaHooked) whose leader hook adds the calibrator's
    prediction on a reuse step (instead of the hook's residual or its extrapolation) and whose tail hook feeds
    each recorded residual to it; a new trajectory starts a new calibrator."""
    from unittest import mock

    from diffusers.hooks import sea_cache

    class State(sea_cache.SeaCacheContextState):
        def __init__(self) -> None:
            self.calibrator, self.fed = None, None
            super().__init__()

        def reset_trajectory(self) -> None:
            super().reset_trajectory()
            self.calibrator, self.fed = None, None

    class Leader(sea_cache.SeaCacheLeaderBlockHook):
        def new_forward(self, module, *args, **kwargs):
            assert not self.post_norm_boundary
            output = super().new_forward(module, *args, **kwargs)
            state = self.state_manager.get_state() if self.state_manager._context is not None else None
            if state is None or self.shared_state.forward_metadata is None:
                return output  # the hook's fail-open: not a step of the trajectory
            state.calibrator = state.calibrator or taylor_calibrator(order)
            state.calibrator.mark_step_begin()
            if not state.skip_remaining:
                return output
            hidden, _ = sea_cache._get_block_inputs(self._metadata, args, kwargs)
            state.cached_gen_residual = state.calibrator.approximate(name="Bn")
            return sea_cache._build_block_output(self._metadata, hidden + state.cached_gen_residual,
                                                 state.cached_und_output)

    class Block(sea_cache.SeaCacheBlockHook):
        def new_forward(self, module, *args, **kwargs):
            output = super().new_forward(module, *args, **kwargs)
            state = self.state_manager.get_state() if self.state_manager._context is not None else None
            if self.is_tail and state is not None and state.history and state.history[-1][2] is not state.fed:
                state.fed = state.history[-1][2]  # the residual `_record_full_execution` just kept
                state.calibrator.update(state.fed, name="Bn")
            return output

    with mock.patch.multiple(sea_cache, SeaCacheContextState=State, SeaCacheLeaderBlockHook=Leader,
                             SeaCacheBlockHook=Block):
        return make_hooked(demo, cfg)
