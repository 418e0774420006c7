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
