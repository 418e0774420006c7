"""The families sweep's CI subset (tests/sweep.py; the full sweep is scripts/sweep_families.py -> docs/families.md):
classes that tests/test_families.py does not build, from diffusers' own tiny test configs, each compiled with
cachepass (`fullgraph=True`, eager inner compiler) and compared over 8 steps with diffusers' hook or cache-dit on
an eager copy: every step within 1e-5, the same steps reused, and some reused."""

from __future__ import annotations

import pytest
import sweep
from tiny_configs import NO_MODEL_TEST, TINY

# (class, method): Qwen-Image (dual-stream blocks diffusers registers) with a planned block skip, SkyReels V2
# (Wan-derived, its own block class) with attention reuse and TaylorSeer. Data-dependent skips (fbc, seacache,
# dbcache) are left to the full sweep: their threshold ladder runs the reference up to 8 times.
CELLS = [("QwenImageTransformer2DModel", "magcache"),
         ("SkyReelsV2Transformer3DModel", "pab"), ("SkyReelsV2Transformer3DModel", "taylorseer")]


@pytest.mark.parametrize("name, method", CELLS)
def test_sweep_cell_equals_the_reference(name, method):
    cell = sweep.run_cell(name, method, fullgraph=True)
    assert cell.outcome == "equal", cell
    assert cell.max_diff <= sweep.TOLERANCE and cell.ours == cell.theirs and "R" in cell.ours


def test_every_class_with_a_time_input_has_a_tiny_config_or_is_listed():
    """The sweep covers what the installed diffusers ships: 74 classes in 0.42.1, each with a tiny config read
    from diffusers' model tests or listed as having none."""
    classes = sweep.time_inputs()
    assert set(TINY) | set(NO_MODEL_TEST) == set(classes) and not set(TINY) & set(NO_MODEL_TEST)
    assert len(classes) >= 74
