"""PAB's configs. Two config types describe Pyramid Attention Broadcast:
- diffusers' own `PyramidAttentionBroadcastConfig`, accepted as is so that moving from
  `transformer.enable_cache(cfg)` to the compiler is a one-line change. It is converted to a
  `PABConfig` with `classification="diffusers"`, which reproduces diffusers' layer selection exactly;
- cachepass's `PABConfig`, whose default classification tags temporal and cross attention from the
  graph's structure and names (compiler/attention.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ...errors import ConfigError
from ...options import check_identifiers, check_range, check_skip, reject_unknown_fields

logger = logging.getLogger(__name__)
from ...compiler.attention import KINDS, Kind


# diffusers' identifiers (hooks/_common.py), repeated here so that cachepass's own config does not
# need diffusers; `from_diffusers` copies whatever the user's diffusers config holds.
DIFFUSERS_SPATIAL_IDENTIFIERS = ("blocks", "transformer_blocks", "single_transformer_blocks", "layers",
                                 "visual_transformer_blocks")


DIFFUSERS_TEMPORAL_IDENTIFIERS = ("temporal_transformer_blocks",)


DIFFUSERS_CROSS_IDENTIFIERS = ("blocks", "transformer_blocks", "layers")


DEFAULT_TIMESTEPS = (100.0, 800.0)


@dataclass(frozen=True)
class KindRule:
    """When attention of one kind may be reused: inside the open timestep interval `(low, high)`,
    on every call whose iteration is not a multiple of `skip` (diffusers' `block_skip_range`)."""

    kind: Kind
    skip: int
    low: float
    high: float

    def may_reuse(self, iteration: int, timestep: float) -> bool:
        return iteration > 0 and self.low < timestep < self.high and iteration % self.skip != 0


@reject_unknown_fields
@dataclass(frozen=True)
class PABConfig:
    """Pyramid Attention Broadcast, cachepass's own config.

    A kind with `<kind>_skip=N` reuses its attention output `N - 1` calls out of every `N` while the
    timestep lies strictly inside `<kind>_timesteps`; `None` leaves that kind uncached.

    `classification` picks how attention layers get their kind:
    - `"cachepass"` (default): cross attention from the graph (query and key/value read different
      inputs), temporal from module names containing "temporal", spatial otherwise;
    - `"diffusers"`: diffusers' rule, unanchored regex search of the identifiers with spatial tested
      first, so `temporal_transformer_blocks.N.attn1` counts as spatial whenever `spatial_skip` is set.
      Used for diffusers' own config so that outputs equal diffusers' hooks.

    `current_timestep_callback` is optional: by default the timestep is read from the model's
    `timestep` input on every call.
    """

    spatial_skip: int | None = 2
    temporal_skip: int | None = None
    cross_skip: int | None = None
    spatial_timesteps: tuple[float, float] = DEFAULT_TIMESTEPS
    temporal_timesteps: tuple[float, float] = DEFAULT_TIMESTEPS
    cross_timesteps: tuple[float, float] = DEFAULT_TIMESTEPS
    classification: Literal["cachepass", "diffusers"] = "cachepass"
    spatial_identifiers: tuple[str, ...] = DIFFUSERS_SPATIAL_IDENTIFIERS
    temporal_identifiers: tuple[str, ...] = DIFFUSERS_TEMPORAL_IDENTIFIERS
    cross_identifiers: tuple[str, ...] = DIFFUSERS_CROSS_IDENTIFIERS
    current_timestep_callback: Callable[[], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for kind in KINDS:
            check_skip(f"{kind}_skip", getattr(self, f"{kind}_skip"))
            object.__setattr__(self, f"{kind}_timesteps",
                               check_range(f"{kind}_timesteps", getattr(self, f"{kind}_timesteps")))
            object.__setattr__(self, f"{kind}_identifiers",
                               check_identifiers(f"{kind}_identifiers", getattr(self, f"{kind}_identifiers")))
        if self.classification not in ("cachepass", "diffusers"):
            raise ConfigError(f"PABConfig.classification={self.classification!r} is not valid; "
                              "choose 'cachepass' or 'diffusers'.")
        if not self.rules():
            raise ConfigError("PABConfig caches nothing: spatial_skip, temporal_skip and cross_skip are all None. "
                              "Set at least one of them to an integer >= 2 (diffusers' default is spatial_skip=2).")
        if self.current_timestep_callback is not None and not callable(self.current_timestep_callback):
            raise ConfigError(f"PABConfig.current_timestep_callback must be callable, got "
                              f"{type(self.current_timestep_callback).__name__}; pass e.g. `lambda: pipe.current_timestep`.")

    def rules(self) -> dict[Kind, KindRule]:
        """The kinds that are cached, with their schedules."""
        rules = {}
        for kind in KINDS:
            skip = getattr(self, f"{kind}_skip")
            if skip is not None:
                low, high = getattr(self, f"{kind}_timesteps")
                rules[kind] = KindRule(kind, skip, low, high)
        return rules

    def identifiers(self, kind: Kind) -> tuple[str, ...]:
        return getattr(self, f"{kind}_identifiers")

    def describe(self) -> str:
        parts = [f"{r.kind}: skip {r.skip} in ({r.low:g}, {r.high:g})" for r in self.rules().values()]
        return f"PAB[{'; '.join(parts)}; classification={self.classification}]"


def from_diffusers(cfg: Any) -> PABConfig:
    """Convert diffusers' `PyramidAttentionBroadcastConfig`, keeping diffusers' layer selection rule."""
    skips = {kind: getattr(cfg, f"{kind}_attention_block_skip_range") for kind in KINDS}
    for kind in KINDS:  # validate under diffusers' own field names, which the user wrote
        check_skip(f"PyramidAttentionBroadcastConfig.{kind}_attention_block_skip_range", skips[kind])
        check_range(f"PyramidAttentionBroadcastConfig.{kind}_attention_timestep_skip_range",
                     getattr(cfg, f"{kind}_attention_timestep_skip_range"))
    if all(skip is None for skip in skips.values()):
        # Same fallback and warning as diffusers' apply_pyramid_attention_broadcast.
        logger.warning("cachepass: the PyramidAttentionBroadcastConfig sets no block skip range; defaulting to "
                       "spatial_attention_block_skip_range=2 as diffusers does.")
        skips["spatial"] = 2
    return PABConfig(
        spatial_skip=skips["spatial"],
        temporal_skip=skips["temporal"],
        cross_skip=skips["cross"],
        spatial_timesteps=cfg.spatial_attention_timestep_skip_range,
        temporal_timesteps=cfg.temporal_attention_timestep_skip_range,
        cross_timesteps=cfg.cross_attention_timestep_skip_range,
        classification="diffusers",
        spatial_identifiers=tuple(cfg.spatial_attention_block_identifiers),
        temporal_identifiers=tuple(cfg.temporal_attention_block_identifiers),
        cross_identifiers=tuple(cfg.cross_attention_block_identifiers),
        current_timestep_callback=cfg.current_timestep_callback,
    )
