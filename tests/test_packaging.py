"""`backend="cachepass"` works from the installed entry point alone, with no `import cachepass`."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest

SCRIPT = """
import sys, torch
from diffusers import CogVideoXTransformer3DModel, PyramidAttentionBroadcastConfig
torch.manual_seed(0)
model = CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4,
    time_embed_dim=8, text_embed_dim=16, num_layers=1, sample_width=8, sample_height=8, sample_frames=5,
    patch_size=2, temporal_compression_ratio=4, max_text_seq_length=8).eval()
compiled = torch.compile(model, backend="cachepass", fullgraph=True, options={
    "cache": PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2), "compiler": "eager"})
x, e = torch.randn(1, 2, 4, 8, 8), torch.randn(1, 8, 16)
with torch.no_grad():
    for t in (999.0, 700.0):
        compiled(hidden_states=x, encoder_hidden_states=e, timestep=torch.tensor([t]), return_dict=False)
assert "cachepass" in sys.modules, "the entry point should have imported cachepass lazily"
graph = sys.modules["cachepass"].compiled_graphs(compiled)[0]
print([r.variant for r in graph.states()[0][1].history])
"""


def test_entry_point_is_registered():
    names = {ep.name: ep.value for ep in entry_points(group="torch_dynamo_backends")}
    assert names.get("cachepass") == "cachepass.backend:cachepass_backend"


def test_backend_name_works_without_importing_cachepass():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "['compute', 'reuse-spatial']"


@pytest.fixture(scope="module")
def demo_output() -> str:
    """The console script's demo at tiny size, stdout and stderr in one stream in the order they were written."""
    script = Path(sys.executable).parent / "cachepass"  # the console script installed beside this Python
    result = subprocess.run([str(script), "demo", "--size", "tiny", "--steps", "12", "--rounds", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def test_demo_command_runs_every_configuration_and_matches_the_hook(demo_output):
    """The README's main job, at tiny size: the console script, four configurations timed in turn, the
    cachepass row equal to diffusers' hook, and the plan."""
    rows = {line.split("  ")[0]: line.split() for line in demo_output.splitlines()}
    for name in ("eager", "diffusers PAB hook (eager)", "torch.compile (inductor)", "cachepass PAB (inductor)"):
        assert name in rows, demo_output
    assert float(rows["cachepass PAB (inductor)"][-1]) <= 1e-5  # final max diff vs the hook
    assert float(rows["cachepass PAB (inductor)"][-2]) > 0  # it reused: the latent differs from eager's
    assert "steps (C = compute and write the cache, R = read it): C" in demo_output


PROGRESS = re.compile(r"^\[ *\d+s\] (.*)$")
COMPILED = re.compile(r"^cachepass PAB \(inductor\): variant (\S+) compiled with inductor in (\d+\.\d\d) s\b")


def test_demo_prints_progress_before_the_table_and_a_line_per_variant_compile(demo_output):
    """Issue 23: a progress line before any compile, one per configuration's warm-up and loop, and one per
    variant cachepass compiled, as the variant table of cachepass's report (printed by the demo) lists them."""
    lines = demo_output.splitlines()
    progress = [(i, m[1]) for i, line in enumerate(lines) if (m := PROGRESS.match(line))]
    table = next(i for i, line in enumerate(lines) if line.startswith("configuration "))
    compiles = [COMPILED.match(text) for _, text in progress if COMPILED.match(text)]
    assert progress and progress[0][0] < table, demo_output
    assert not COMPILED.match(progress[0][1]) and progress[0][0] < min(i for i, t in progress if COMPILED.match(t))
    for name in ("eager", "diffusers PAB hook (eager)", "torch.compile (inductor)", "cachepass PAB (inductor)"):
        assert f"{name}: warm-up loop ..." in [t for _, t in progress], demo_output
        assert sum(t.startswith(f"{name}: round ") for _, t in progress) == 2, demo_output
    variants = lines.index(next(line for line in lines if line.startswith("variant ")))
    reported = [line.split() for line in itertools.takewhile(str.strip, lines[variants + 2:])]
    assert len(reported) >= 2, demo_output  # compute and reuse-spatial
    # tabulate prints the report's "0.50" as 0.5: compare the seconds as numbers.
    assert sorted((m[1], float(m[2])) for m in compiles) == sorted((r[0], float(r[4])) for r in reported), \
        ([m[0] for m in compiles], lines[variants:variants + 2 + len(reported)], demo_output)


def test_demo_table_names_its_statistics(demo_output):
    """Issue 23: "loop s" is a median of loops and "vs" a median of per-round ratios; the table says so where
    the numbers are, and a footnote under it explains why the two can disagree."""
    lines = demo_output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("configuration "))
    assert "median loop s" in lines[header] and "vs eager (median of round ratios)" in lines[header], lines[header]
    footnote = lines[header + 2 + 4]  # under the header, its rule and the four rows
    assert footnote.startswith("median loop s: the median of a configuration's 2 timed loops"), demo_output
    assert "median over rounds of" in " ".join(lines[header + 6:header + 9]), demo_output


def test_version_command_prints_the_installed_version():
    script = Path(sys.executable).parent / "cachepass"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"cachepass {version('cachepass')}"
