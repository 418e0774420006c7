"""Where a FasterCache call sits in its step: CFG as one batched call ([uncond, cond]), as two sequential calls
at one timestep (conditional, then unconditional), or none at all (a guidance-distilled model).

The mode is fixed by the config (`guidance_distilled`, `cfg_calls`), else decided at the second call of a
generation: the same timestep again is sequential, a new one batched. Until then the first call's outputs are
held (FCState.pending) and the runtime resolves them once the mode is known.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from .plan import Call, Mode
from .state import FCState


def fixed_mode(config: Any) -> Mode | None:
    """The mode the config fixes, or None: decided at the second call of each generation."""
    if config.guidance_distilled:
        return "distilled"
    return None if config.cfg_calls == "auto" else config.cfg_calls


def start_generation_mode(state: FCState, fixed: Mode | None) -> None:
    if state.iteration < 0 and state.mode is None:
        state.mode = fixed


def pending_mode(state: FCState, timestep: float) -> Mode:
    """The mode the second call of an "auto" generation reveals."""
    return "sequential" if state.last_timestep == timestep else "batched"


def next_call(state: FCState, timestep: float) -> Call | None:
    """Start a step or continue one (the mode known): which CFG call this is, None when it is the step's only."""
    if state.mode == "sequential" and state.last_timestep == timestep and state.iteration >= 0:
        if state.step_calls >= 2:
            raise ConfigError(f"cachepass FasterCache: a third call at timestep {timestep:g} in one step; "
                              "sequential CFG makes two calls per timestep (conditional, then unconditional). "
                              "For schedulers that repeat timesteps (Heun), set cfg_calls='batched' with "
                              "batched CFG, or reset between calls.")
        state.step_calls += 1
        return "uncond"
    state.iteration += 1
    state.step_calls = 1
    return "cond" if state.mode == "sequential" else None


def check_cfg_batch(state: FCState, batch: int) -> None:
    """A batched step needs [uncond, cond] halves: an odd batch is a model without CFG."""
    if batch % 2:
        state.reset()
        raise ConfigError(
            f"cachepass FasterCache: the model is called once per step with batch {batch}, which holds no "
            f"[uncond, cond] halves: FasterCache's CFG-Cache needs classifier-free guidance. Set "
            f"is_guidance_distilled=True (cachepass.FCConfig(guidance_distilled=True)) to extrapolate attention "
            f"only, or run CFG as two calls per timestep, conditional first.")
