"""TeaCache configs: cachepass's `TeaCacheConfig` (diffusers has none yet: PR #12652 is open), validated before
any compile work, and the published per-family defaults it resolves against the compiled model.

The rule is the TeaCache authors' (ali-vilab/TeaCache, `TeaCache4<Family>/*.py`): see docs/methods.md, "TeaCache".
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

from ...errors import ConfigError
from ...options import reject_unknown_fields

Indicator = Literal["modulated", "timestep_embedding"]
INDICATORS: tuple[str, ...] = ("modulated", "timestep_embedding")


@reject_unknown_fields
@dataclass(frozen=True)
class TeaCacheConfig:
    """TeaCache (the authors' reference scripts, rule for rule): per step, the relative L1 change of the
    indicator -- the first block's modulated input, or for Wan and CogVideoX the timestep embedding the blocks
    read, as the authors' scripts take it -- against the previous step's, rescaled by the polynomial
    `coefficients` (highest power first, as `numpy.poly1d`), is accumulated; while the sum stays below
    `threshold` the whole block stack is skipped (every stream = its input + the residual of the last computed
    step), otherwise the stack runs and the sum restarts at 0.

    - `threshold`: > 0 (the authors: Flux 0.25-0.8, HunyuanVideo 0.1-0.15, LTX 0.03-0.05, Mochi 0.06-0.09).
    - `coefficients`: None takes the published ones of the model's family (families.py-style table in
      config.FAMILIES); a model without them needs them passed.
    - `retention_steps`: the first steps of a generation always computed (None: the family's, else 1).
    - `cutoff_steps`: the last steps always computed (None: the family's, else 1).
    - `num_inference_steps`: the generation's length: the step counter wraps there (the authors' `num_steps`).
    - `indicator`: None (the family's), "modulated" or "timestep_embedding".
    - `block_lists`: as FBCConfig.block_lists.
    - `calibrate`: True computes every step and fits `coefficients` for this model instead (docs/methods.md,
      TeaCache, "Calibration"): each generation's fit is printed, logged and in `cachepass.report(model)`. A model
      without published coefficients is accepted then.
    """

    threshold: float
    coefficients: tuple[float, ...] | None = None
    retention_steps: int | None = None
    cutoff_steps: int | None = None
    num_inference_steps: int = 28
    indicator: Indicator | None = None
    block_lists: tuple[str, ...] | None = None
    calibrate: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"TeaCacheConfig.calibrate={self.calibrate!r} must be True or False.")
        value = self.threshold
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ConfigError(f"TeaCacheConfig.threshold={value!r} must be a number > 0: the block stack is skipped "
                              f"while the accumulated rescaled change stays below it (the authors use 0.25-0.8 for "
                              f"Flux, 0.1-0.15 for HunyuanVideo, 0.03-0.05 for LTX).")
        object.__setattr__(self, "threshold", float(value))
        if self.coefficients is not None:
            object.__setattr__(self, "coefficients", _coefficients(self.coefficients))
        for name, low in (("retention_steps", 1), ("cutoff_steps", 0)):
            if getattr(self, name) is not None:
                _integer(f"TeaCacheConfig.{name}", getattr(self, name), low)
        _integer("TeaCacheConfig.num_inference_steps", self.num_inference_steps, 1)
        if self.indicator is not None and self.indicator not in INDICATORS:
            raise ConfigError(f"TeaCacheConfig.indicator={self.indicator!r} must be None (the family's), "
                              f"{' or '.join(repr(i) for i in INDICATORS)}.")
        if self.block_lists is not None:
            lists = self.block_lists
            if isinstance(lists, str) or not lists or not all(isinstance(n, str) and n for n in lists):
                raise ConfigError(f"TeaCacheConfig.block_lists={lists!r} must be a non-empty tuple of ModuleList names.")
            object.__setattr__(self, "block_lists", tuple(lists))

    def describe(self) -> str:
        if self.calibrate:
            return f"TeaCache[calibrate over {self.num_inference_steps} steps]"
        coefficients = "the family's" if self.coefficients is None else f"{len(self.coefficients)} given"
        return (f"TeaCache[threshold {self.threshold:g}, coefficients {coefficients}, {self.num_inference_steps} "
                f"steps]")


@dataclass(frozen=True)
class FamilyDefaults:
    """What the TeaCache authors' (or an engine's) script for one model family uses."""

    coefficients: tuple[float, ...]
    indicator: Indicator
    source: str  # where the numbers come from
    retention_steps: int = 1
    cutoff_steps: int = 1


@dataclass(frozen=True)
class TeaSettings:
    """A config resolved against the compiled model: what the plan and the tag stage use."""

    coefficients: tuple[float, ...]
    indicator: Indicator
    retention_steps: int
    cutoff_steps: int
    source: str


_AUTHORS = "ali-vilab/TeaCache"
# calibrate=True on a model without published coefficients: the plan never rescales (every step computes), so
# the identity polynomial only fills the settings
_CALIBRATION = FamilyDefaults((1.0, 0.0), "modulated", "calibration run")
_FLUX = FamilyDefaults((4.98651651e+02, -2.83781631e+02, 5.58554382e+01, -3.82021401e+00, 2.64230861e-01),
                       "modulated", f"{_AUTHORS} TeaCache4FLUX/teacache_flux.py")
_HUNYUAN = FamilyDefaults((7.33226126e+02, -4.01131952e+02, 6.75869174e+01, -3.14987800e+00, 9.61237896e-02),
                          "modulated", f"{_AUTHORS} TeaCache4HunyuanVideo/teacache_sample_video.py")
_LTX = FamilyDefaults((2.14700694e+01, -1.28016453e+01, 2.31279151e+00, 7.92487521e-01, 9.69274326e-03),
                      "modulated", f"{_AUTHORS} TeaCache4LTX-Video/teacache_ltx.py")
_MOCHI = FamilyDefaults((-3.51241319e+03, 8.11675948e+02, -6.09400215e+01, 2.42429681e+00, 3.05291719e-03),
                        "modulated", f"{_AUTHORS} TeaCache4Mochi/teacache_mochi.py (its residual also spans "
                        "norm_out; cachepass's spans the block stack)")
_QWEN = FamilyDefaults((-4.50000000e+02, 2.80000000e+02, -4.50000000e+01, 3.20000000e+00, -2.00000000e-02),
                       "modulated", "vllm-project/vllm-omni vllm_omni/diffusion/cache/teacache/config.py "
                       "(from ComfyUI-TeaCache)")
# Wan 2.1 (TeaCache4Wan2.1/teacache_generate.py, `--use_ret_steps`): the indicator is the block input `e0`
# (the timestep projection), the first 5 steps of each CFG branch compute and no last step is forced. The
# script's other mode reads `e`, which no block reads, so cachepass takes this one.
_WAN_SOURCE = f"{_AUTHORS} TeaCache4Wan2.1/teacache_generate.py (use_ret_steps)"
_WAN_1_3B = FamilyDefaults((-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02),
                           "timestep_embedding", f"{_WAN_SOURCE}, 1.3B", retention_steps=5, cutoff_steps=0)
_WAN_14B = FamilyDefaults((-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01),
                          "timestep_embedding", f"{_WAN_SOURCE}, 14B", retention_steps=5, cutoff_steps=0)
# CogVideoX (TeaCache4CogVideoX1.5/teacache_sample_video.py `coefficients_dict`): the indicator is `emb`,
# the timestep embedding every block reads.
_COG_SOURCE = f"{_AUTHORS} TeaCache4CogVideoX1.5/teacache_sample_video.py"
_COG = {
    "CogVideoX-2b": (-3.10658903e+01, 2.54732368e+01, -5.92380459e+00, 1.75769064e+00, -3.61568434e-03),
    "CogVideoX-5b": (-1.53880483e+03, 8.43202495e+02, -1.34363087e+02, 7.97131516e+00, -5.23162339e-02),
    "CogVideoX1.5-5B": (2.50210439e+02, -1.65061612e+02, 3.57804877e+01, -7.81551492e-01, 3.58559703e-02),
    "CogVideoX1.5-5B-I2V": (1.22842302e+02, -1.04088754e+02, 2.62981677e+01, -3.06009921e-01, 3.71213220e-02),
}


def family_defaults(module: Any) -> FamilyDefaults | None:
    """The published defaults for the compiled model's class (None: none published)."""
    name = type(module).__name__
    config = getattr(module, "config", None)
    if name in ("FluxTransformer2DModel",):
        return _FLUX
    if name == "HunyuanVideoTransformer3DModel":
        return _HUNYUAN
    if name == "LTXVideoTransformer3DModel":
        return _LTX
    if name == "MochiTransformer3DModel":
        return _MOCHI
    if name == "QwenImageTransformer2DModel":
        return _QWEN
    if name == "WanTransformer3DModel":
        dim = getattr(config, "num_attention_heads", 0) * getattr(config, "attention_head_dim", 0)
        return _WAN_14B if dim >= 5120 else _WAN_1_3B
    if name == "CogVideoXTransformer3DModel":
        variant = _cogvideox_variant(config)
        return FamilyDefaults(_COG[variant], "timestep_embedding", f"{_COG_SOURCE}, {variant}", 1, 1)
    return None


def _cogvideox_variant(config: Any) -> str:
    """1.5 models patch time (`patch_size_t`), their I2V twin takes 32 input channels; 5b has 42 layers, 2b 30
    (5b-I2V shares 5b's coefficients)."""
    if getattr(config, "patch_size_t", None) is not None:
        return "CogVideoX1.5-5B-I2V" if getattr(config, "in_channels", 16) == 32 else "CogVideoX1.5-5B"
    return "CogVideoX-5b" if getattr(config, "num_layers", 0) >= 42 else "CogVideoX-2b"


def resolve(config: TeaCacheConfig, module: Any) -> TeaSettings:
    """The config with the family's defaults filled in; a ConfigError naming the fix when a model without
    published coefficients gets none (a calibration run needs none)."""
    family = family_defaults(module) if module is not None else None
    if config.coefficients is None and family is None and config.calibrate:
        family = _CALIBRATION
    if config.coefficients is None and family is None:
        raise ConfigError(
            f"cachepass TeaCache: no published rescaling coefficients for {type(module).__name__}; pass them: "
            f"cachepass.TeaCacheConfig(threshold=..., coefficients=(a4, a3, a2, a1, a0)), the polynomial (highest "
            f"power first, as numpy.poly1d) that maps the indicator's relative L1 change to the output's, fitted "
            f"on your model as the TeaCache authors do. Published for: Flux, HunyuanVideo, LTX-Video, Mochi, "
            f"Qwen-Image, Wan 2.1, CogVideoX. Or fit them on your model: run one generation with "
            f"cachepass.TeaCacheConfig(threshold=..., calibrate=True) and copy the printed coefficients.")
    coefficients = config.coefficients if config.coefficients is not None else family.coefficients
    return TeaSettings(
        coefficients,
        config.indicator or (family.indicator if family is not None else "modulated"),
        config.retention_steps if config.retention_steps is not None else (family.retention_steps if family else 1),
        config.cutoff_steps if config.cutoff_steps is not None else (family.cutoff_steps if family else 1),
        "TeaCacheConfig.coefficients" if config.coefficients is not None else family.source)


def _coefficients(value: Any) -> tuple[float, ...]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"TeaCacheConfig.coefficients={value!r} must be a non-empty sequence of numbers, highest "
                          f"power first (numpy.poly1d), or None for the family's published ones.")
    return tuple(float(v) for v in value)


def _integer(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name}={value!r} must be an int >= {low}.")
