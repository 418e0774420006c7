"""`backend="cachepass"` works from the installed entry point alone, with no `import cachepass`."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

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


def test_demo_command_runs_every_configuration_and_matches_the_hook():
    """The README's main job, at tiny size: the console script, four configurations timed in turn, the
    cachepass row equal to diffusers' hook, and the plan."""
    script = Path(sys.executable).parent / "cachepass"  # the console script installed beside this Python
    result = subprocess.run([str(script), "demo", "--size", "tiny", "--steps", "12", "--rounds", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split("  ")[0]: line.split() for line in result.stdout.splitlines()}
    for name in ("eager", "diffusers PAB hook (eager)", "torch.compile (inductor)", "cachepass PAB (inductor)"):
        assert name in rows, result.stdout
    assert float(rows["cachepass PAB (inductor)"][-1]) <= 1e-5  # final max diff vs the hook
    assert float(rows["cachepass PAB (inductor)"][-2]) > 0  # it reused: the latent differs from eager's
    assert "steps (C = compute and write the cache, R = read it): C" in result.stdout


def test_version_command_prints_the_installed_version():
    script = Path(sys.executable).parent / "cachepass"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"cachepass {version('cachepass')}"
