"""FirstBlockCache configs: cachepass's `FBCConfig` and diffusers' `FirstBlockCacheConfig`, validated
before any compile work.

diffusers' config has one field, `threshold`; its hook finds the block stacks by diffusers' names
(`_ALL_TRANSFORMER_BLOCK_IDENTIFIERS`: `transformer_blocks`, `single_transformer_blocks`, `blocks`,
`layers`, ...). `FBCConfig` adds `block_lists`: which of the model's `nn.ModuleList` children hold the
repeated blocks, or `None` to find them from the graph (diffusers' names first, then any ModuleList of
two or more blocks of one class), so plain PyTorch DiTs work too.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError
from ...options import reject_unknown_fields


@reject_unknown_fields
@dataclass(frozen=True)
class FBCConfig:
    """First Block Cache (diffusers' `hooks/first_block_cache.py`, rule for rule).

    Every step runs the first block of the stack; when the relative mean absolute change of its
    residual against the residual of the last computed step is at most `threshold`, the other blocks
    are skipped and the residual(s) they added on that step are added to the first block's output.

    - `threshold`: > 0; diffusers' default is 0.05 (real weights: 0.05-0.12).
    - `block_lists`: names of the model's ModuleList attributes holding the blocks, in call order
      (e.g. `("transformer_blocks", "single_transformer_blocks")`); `None` finds them from the graph.
    """

    threshold: float = 0.05
    block_lists: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_threshold("FBCConfig.threshold", self.threshold)
        object.__setattr__(self, "threshold", float(self.threshold))
        if self.block_lists is not None:
            lists = self.block_lists
            if isinstance(lists, str) or not lists or not all(isinstance(n, str) and n for n in lists):
                raise ConfigError(f"FBCConfig.block_lists={lists!r} must be a non-empty tuple of attribute names of "
                                  f"the model's ModuleLists, e.g. ('transformer_blocks',), or None to find them.")
            object.__setattr__(self, "block_lists", tuple(lists))

    def describe(self) -> str:
        lists = "auto" if self.block_lists is None else ", ".join(self.block_lists)
        return f"FirstBlockCache[threshold {self.threshold:g}; blocks: {lists}]"


def from_diffusers(cfg: Any) -> FBCConfig:
    """diffusers' `FirstBlockCacheConfig`, read and never mutated; its blocks are found by diffusers' names."""
    _check_threshold("FirstBlockCacheConfig.threshold", getattr(cfg, "threshold", None))
    return FBCConfig(threshold=cfg.threshold, block_lists=None)


def _check_threshold(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}={value!r} must be a number > 0, e.g. 0.05 (diffusers' default).")
    if not value > 0:
        raise ConfigError(f"{name}={value!r} must be > 0: the remaining blocks are skipped when the first block's "
                          f"residual changed by at most `threshold`, so {value!r} never skips a step and caches "
                          f"nothing. Use e.g. 0.05 (diffusers' default) to 0.12; run without a cache config to "
                          f"compile without caching.")
