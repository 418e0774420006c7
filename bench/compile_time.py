"""Cold compile time, whole model against regional compilation (`compile_repeated_blocks`), with cachepass.

    python -m bench.compile_time [--steps 10] [--out docs/bench/compile-time.json]

Every measurement runs in a fresh process with an empty Inductor cache (a cold start, as a user's first
generation). Per model and mode it times the first generation (every variant compiled on first use) and a
second one (nothing compiled); cold compile time is their difference. Then a second new process, with the
Inductor cache the first left, times its first generation again (`second process s`) and counts the misses of
Inductor's FX graph and AOTAutograd caches there (torch's counters, compiler/lower.py's CacheCounts). Modes: plain
Inductor and cachepass (the registry's default method, PAB, with diffusers' config), each on the whole model and
block by block.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch
from tabulate import tabulate

MODELS = ("flux-small", "wan-small")
MODES = ("inductor-whole", "inductor-regional", "cachepass-whole", "cachepass-regional")


def _wan_small() -> Any:
    """Wan 2.1 style, 8 blocks of 4 heads x 32, 2x8x8 latent patches + 16 text tokens."""
    from diffusers import WanTransformer3DModel

    from cachepass.models import DemoModel

    module = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=32, in_channels=16,
                                   out_channels=16, text_dim=64, freq_dim=64, ffn_dim=256, num_layers=8,
                                   rope_max_seq_len=64).eval()

    def make_inputs(batch: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(16)
        return {"hidden_states": torch.randn(batch, 16, 2, 16, 16, generator=gen),
                "encoder_hidden_states": torch.randn(batch, 16, 64, generator=gen)}

    return DemoModel("wan", "small", module, make_inputs)


def _model(name: str) -> Any:
    from .workloads import WORKLOADS

    torch.manual_seed(0)
    return _wan_small() if name == "wan-small" else WORKLOADS[name].model()


def measure(name: str, mode: str, steps: int) -> dict[str, Any]:
    """One cold measurement, in this process (run by `main` in a fresh one)."""
    from cachepass.methods import default_method
    from cachepass.timesteps import timesteps_linspace

    from .workloads import WORKLOADS

    demo = _model(name)
    timesteps = timesteps_linspace(steps)
    current: dict[str, float] = {}
    # The default method at flux-small's bench settings; blocks compiled one by one see no timestep input.
    method = default_method()
    config = method.plugin.bench_config({**WORKLOADS["flux-small"].fields(method.name),
                                         "current_timestep_callback": lambda: current["t"]})
    backend, options = ("inductor", None) if mode.startswith("inductor") else ("cachepass", {"cache": config})
    module = demo.module
    if mode.endswith("regional"):
        module.compile_repeated_blocks(backend=backend, fullgraph=True, options=options)
        compiled = module
    else:
        compiled = torch.compile(module, backend=backend, fullgraph=True, options=options)
    seconds = []
    with torch.no_grad():
        for _ in range(2):
            start = time.perf_counter()
            for t in timesteps:
                current["t"] = t
                demo(compiled, t)
            seconds.append(time.perf_counter() - start)
    from cachepass.compiler.lower import CacheCounts

    return {"model": name, "mode": mode, "steps": steps, "first_s": seconds[0], "second_s": seconds[1],
            "compile_s": seconds[0] - seconds[1], "torch": torch.__version__,
            "cache_missed": CacheCounts.now().missed}


def _fresh_process(name: str, mode: str, steps: int, cache: str) -> dict[str, Any]:
    """`measure` in a new process whose Inductor cache is `cache`."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-m", "bench.compile_time", "--steps", str(steps), "--one", name, mode],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--out", default=None, help="write the measurements as JSON here")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.steps)))
        return 0
    rows = []
    for name in args.models:
        for mode in MODES:
            with tempfile.TemporaryDirectory() as cache:  # cold, then a second process with what the first left
                first, second = (_fresh_process(name, mode, args.steps, cache) for _ in range(2))
            rows.append({**first, "second_process_s": second["first_s"],
                         "second_process_cache_missed": second["cache_missed"]})
            print(f"{name} {mode}: {rows[-1]['compile_s']:.1f} s", file=sys.stderr)
    table = [(r["model"], r["mode"], f"{r['first_s']:.1f}", f"{r['second_s']:.2f}", f"{r['compile_s']:.1f}",
              f"{r['second_process_s']:.1f} ({r['second_process_cache_missed']} missed)") for r in rows]
    print(tabulate(table, headers=("model", "mode", "1st generation s", "2nd generation s", "cold compile s",
                                   "second process s")))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"steps": args.steps, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
