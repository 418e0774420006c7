"""`cachepass dump` writes byte-identical files across runs and processes; the checked-in golden
files were reviewed by eye once. Regenerate them after a deliberate change (or a torch/diffusers
upgrade) with:  CACHEPASS_UPDATE_GOLDEN=1 python -m pytest tests/test_dump.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cachepass
from cachepass.cli import _config_from_fields, main
from cachepass.methods import METHODS
from cachepass.options import ConfigError
from cachepass.models import build
from cachepass.timesteps import timesteps_linspace

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "cogvideox": ["cogvideox", "--steps", "12"],
    "latte": ["latte", "--temporal-skip", "3", "--cross-skip", "4", "--cross-timesteps", "50", "950",
              "--steps", "12"],
    "cogvideox-fastercache": ["cogvideox", "--method", "fastercache", "--steps", "12"],
    "cogvideox-fbc": ["cogvideox", "--method", "fbc", "--threshold", "0.3", "--steps", "12"],
}


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", list(CASES))
def test_dump_is_deterministic_and_matches_golden(case, tmp_path, capsys):
    first, second, third = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["dump", *CASES[case], "--out", str(first)]) == 0
    printed = capsys.readouterr().out
    torch._dynamo.reset()
    assert main(["dump", *CASES[case], "--out", str(second)]) == 0
    subprocess.run([sys.executable, "-m", "cachepass.cli", "dump", *CASES[case], "--out", str(third)],
                   check=True, capture_output=True, timeout=300)
    assert files(first) == files(second) == files(third)

    golden = GOLDEN / f"dump-{case}"
    if os.environ.get("CACHEPASS_UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(first, golden)
    assert files(first) == files(golden), f"dump differs from {golden}; see the module docstring to regenerate"
    assert ("module" in printed and ("reused layers" in printed or "extrapolated" in printed)  # tags and plan
            or "stream values after it" in printed and "tail-reuse" in printed)  # FirstBlockCache: blocks and pieces


def test_dump_lists_every_variant_the_plan_uses(tmp_path):
    main(["dump", *CASES["latte"], "--out", str(tmp_path)])
    names = [p.name for p in sorted(tmp_path.iterdir())]
    assert names[:4] == ["00-summary.txt", "01-captured-graph.py", "02-tags.txt", "03-plan.txt"]
    assert names[4:] == ["04-variant-compute.py", "05-variant-reuse-cross.py", "06-variant-reuse-cross+spatial.py",
                         "07-variant-reuse-temporal.py", "08-variant-reuse-cross+spatial+temporal.py"]
    code = (tmp_path / "06-variant-reuse-cross+spatial.py").read_text()
    assert "cache_read__transformer_blocks_0_attn1__0" in code
    assert "cache_write__temporal_transformer_blocks_0_attn1__0" in code


def test_dbcache_dump_shows_the_roles_the_cut_and_every_piece(tmp_path):
    assert main(["dump", "cogvideox", "--method", "dbcache", "--threshold", "0.3", "--steps", "12",
                 "--out", str(tmp_path)]) == 0
    names = [p.name for p in sorted(tmp_path.iterdir())]
    assert names == ["00-summary.txt", "01-captured-graph.py", "02-blocks.txt", "03-plan.txt", "04-piece-head.py",
                     "05-piece-head+decide.py", "06-piece-tail-compute.py", "07-piece-tail-reuse.py"]
    blocks = (tmp_path / "02-blocks.txt").read_text()
    assert "F1B0: blocks by role" in blocks and "F M" in blocks and "cut after transformer_blocks.0" in blocks
    assert "DBCache[F1B0; threshold 0.3; warm-up 0" in (tmp_path / "03-plan.txt").read_text()
    reuse = (tmp_path / "07-piece-tail-reuse.py").read_text()
    assert "cache_read__db_middle_residual__0" in reuse and "scaled_dot_product_attention" not in reuse
    assert "cache_write__db_middle_residual__0" in (tmp_path / "06-piece-tail-compute.py").read_text()


def test_fbc_dump_shows_the_cut_and_every_piece(tmp_path):
    main(["dump", *CASES["cogvideox-fbc"], "--out", str(tmp_path)])
    names = [p.name for p in sorted(tmp_path.iterdir())]
    assert names == ["00-summary.txt", "01-captured-graph.py", "02-blocks.txt", "03-plan.txt", "04-piece-head.py",
                     "05-piece-head+decide.py", "06-piece-tail-compute.py", "07-piece-tail-reuse.py"]
    blocks = (tmp_path / "02-blocks.txt").read_text()
    assert "cut after transformer_blocks.0" in blocks and "head (decides)" in blocks
    reuse = (tmp_path / "07-piece-tail-reuse.py").read_text()
    assert "cache_read__fbc_tail_residual__0" in reuse and "scaled_dot_product_attention" not in reuse  # no block
    assert "scaled_dot_product_attention" in (tmp_path / "06-piece-tail-compute.py").read_text()


@pytest.mark.parametrize("model, method, variants", [
    ("cogvideox", "magcache", ["04-variant-compute.py", "05-variant-skip.py"]),
    ("dit", "taylorseer", ["04-variant-compute-o0.py", "05-variant-compute-o1.py", "06-variant-predict-o2.py"]),
])
def test_step_only_methods_dump_their_schedule_and_variants(tmp_path, model, method, variants):
    main(["dump", model, "--method", method, "--steps", "12", "--out", str(tmp_path)])
    names = [p.name for p in sorted(tmp_path.iterdir())]
    assert names[:2] == ["00-summary.txt", "01-captured-graph.py"] and names[4:] == variants
    plan = (tmp_path / "03-plan.txt").read_text()
    assert ("skip" in plan) if method == "magcache" else ("predict-o2" in plan)


def test_report_lists_the_variants_the_plan_predicts():
    demo = build("latte")
    config = cachepass.PABConfig(spatial_skip=2, temporal_skip=3, cross_skip=4)
    compiled = torch.compile(demo.module, backend="cachepass", options={"cache": config, "compiler": "eager"})
    timesteps = timesteps_linspace(12)
    with torch.no_grad():
        for t in timesteps:
            demo(compiled, t)
    [graph] = cachepass.report(compiled).graphs
    predicted = graph.plan.simulate(timesteps)
    assert [s.variant for s in graph.steps] == [d.variant for d in predicted]
    assert [s.timestep for s in graph.steps] == pytest.approx([d.timestep for d in predicted])
    assert {v.name: v.steps_run for v in graph.variants} == \
        {name: [d.variant for d in predicted].count(name) for name in {d.variant for d in predicted}}
    text = str(cachepass.report(compiled))
    assert "reuse-cross+spatial+temporal" in text and "temporal_transformer_blocks.1.attn1" in text


def test_torch_logs_show_every_stage_and_refused_nodes():
    script = ("import torch, sys; sys.path.insert(0, 'tests'); from test_tag import InlineAttentionBlock\n"
              "from cachepass.models import build\n"
              "d = build('dit'); c = torch.compile(d.module, backend='cachepass', options={'compiler': 'eager'})\n"
              "m = torch.compile(InlineAttentionBlock().eval(), backend='cachepass', options={'compiler': 'eager'})\n"
              "with torch.no_grad():\n"
              "    [d(c, t) for t in (999.0, 700.0)]; m(torch.randn(1, 4, 8), torch.tensor(1.0))\n")
    env = {**os.environ, "TORCH_LOGS": "+cachepass"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env,
                            cwd=Path(__file__).parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    for stage in ("capture:", "tag: blocks.0.attn", "plan: spatial attention reuses", "rewrite: variant compute",
                  "lower: variant compute", "dispatch: generation 0 step 1 timestep 700 ran reuse-spatial",
                  "tag: NOT tagged scaled_dot_product_attention: attention called directly"):
        assert stage in result.stderr, stage


@pytest.mark.parametrize("fields, method, expected", [
    ({"spatial_attention_block_skip_range": 2, "alpha_high_frequency": 1.2}, "pab", "FasterCacheConfig"),
    ({"spatial_attention_block_skip_range": 2}, "pab", "PyramidAttentionBroadcastConfig"),
    ({"spatial_attention_block_skip_range": 2}, "fastercache", "FasterCacheConfig"),
    ({"alpha_high": 1.2}, "pab", "FCConfig"),
    ({"spatial_skip": 3}, "pab", "PABConfig"),
    ({"threshold": 0.1}, "pab", "FBCConfig"),
    ({"threshold": 0.1}, "fbc", "FBCConfig"),
])
def test_cache_config_json_is_read_as_the_class_whose_fields_it_uses(fields, method, expected):
    assert type(_config_from_fields(fields, method)).__name__ == expected


def test_cache_config_json_with_unknown_keys_names_them():
    with pytest.raises(ConfigError, match=r"\['bogus'\] are not all fields"):
        _config_from_fields({"bogus": 1}, "pab")


def test_cache_config_json_with_a_mistyped_key_names_the_closest_field_and_its_classes():
    with pytest.raises(ConfigError, match=re.escape("'spatial_skp' is a field of none (did you mean 'spatial_skip', "
                                                    "a field of cachepass.PABConfig")):
        _config_from_fields({"spatial_skp": 2}, "pab")


def test_dump_help_names_every_registered_method_and_config_class(capsys):
    with pytest.raises(SystemExit) as done:
        main(["dump", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for method in METHODS:
        for name in (method.name, method.title, method.config_class, method.diffusers_config):
            assert name in text, f"dump --help does not name {name} ({method.name})"


def test_dump_prints_the_folder_once_and_every_file_it_wrote(tmp_path, capsys):
    out = tmp_path / "dumpx"
    assert main(["dump", "cogvideox", "--steps", "12", "--out", f"{out}/"]) == 0
    printed = capsys.readouterr().out
    written = sorted(p.name for p in out.iterdir())
    assert f"\nwrote {len(written)} files to {out.resolve()}:\n" + "".join(f"  {n}\n" for n in written) in printed
    assert "//" not in printed and f"{out}/" not in printed
