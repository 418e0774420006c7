"""`python -m bench`: every configuration on every workload of a preset, side by side in one run.

Each (workload, configuration) runs in its own worker process (bench/worker.py) with a fresh Inductor
cache: compile times are cold, memory peaks and Dynamo counters are its own, and a cachepass worker times
each of its variants alone between its loops (the schedule's ideal time, and the efficiency).

Steady-state times on CPU come from the paired timing that follows (bench/turns.py): a shared CPU drifts
by +-20% over seconds, so the workers of a workload stay alive with their warm models and run one loop
each in turn, for several rounds, one worker at a time; speedups are medians of per-round ratios. Every
configuration takes part, diffusers' hooks and the peers under torch.compile included: each is in a process
of its own, so no Dynamo state is shared.

This process then computes quality against the uncached eager run, prints a table, and writes a JSON
file and, when matplotlib is installed, a PNG of the time per step with the cachepass variant of each
step marked. This module is the command line; the work is in orchestrate.py (workers and rounds),
quality.py (quality, speedups, the first-block comparison), tables.py (the printed text) and plots.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from cachepass.methods import CALIBRATORS, default_method

from .configurations import CACHEPASS_OF, CONFIGURATIONS, FIRST_BLOCK_COMPARISON
from .orchestrate import run_all
from .peers import INSTALL
from .plots import plot, speed_figures
from .quality import add_quality, first_block_comparison
from .tables import comparison_text, patterns_text, table
from .workloads import PRESETS, WORKLOADS

EXAMPLES = """examples:
  python -m bench                       # CPU: small CogVideoX and Latte, 50 steps
  python -m bench --gpu                 # CogVideoX-2b config on CUDA, bf16, batched CFG, 20 steps
  python -m bench --smoke --out /tmp/b  # about 4 minutes: every configuration and field
  python -m bench --tune                # cachepass.tune's plans for PSNR budgets against the defaults (CPU)
  python -m bench --tune --smoke        # the same on the tiny model: checks the plumbing
  python -m bench --peers               # first-block caches: cachepass, diffusers, cache-dit, ParaAttention
  python -m bench --configurations eager "torch.compile (inductor)" "{cachepass}" """


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    epilog = EXAMPLES.format(cachepass=CACHEPASS_OF[default_method().name])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--gpu", action="store_true", help="the real CogVideoX-2b configuration on CUDA")
    preset.add_argument("--smoke", action="store_true",
                        help="tiny model, 8 steps, 1 repeat, torch.compile's eager backend: checks the plumbing")
    preset.add_argument("--peers", action="store_true",
                        help="small Flux and CogVideoX, the first-block caches of cachepass, diffusers, cache-dit and "
                             f"ParaAttention beside eager and Inductor (needs {INSTALL})")
    parser.add_argument("--tune", action="store_true",
                        help="cachepass.tune's plans for PSNR budgets against every method at the workload's settings "
                             "and cache-dit's default, in the same rounds (bench/tune.py); with --smoke: tiny")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), help="override the preset's workloads")
    parser.add_argument("--configurations", nargs="+", choices=list(CONFIGURATIONS), default=None,
                        metavar="NAME", help="configurations to run (default: all but the peers; --peers: the "
                                             "first-block ones; --smoke: all): "
                                             f"{', '.join(CONFIGURATIONS)}")
    parser.add_argument("--repeats", type=int, default=None, help="timed loops after the warm-up (default: 5; smoke 1)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of the paired timing (every worker, in turn) on CPU workloads (default: 7; "
                             "smoke 2)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for JSON and PNG")
    parser.add_argument("--warm-cache", action="store_true",
                        help="share one Inductor cache between workers (compile times are then not cold)")
    return parser.parse_args(argv)



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tune:
        from .tune import main as tune_main

        return tune_main("smoke" if args.smoke else "cpu", args.out, args.rounds, args.warm_cache)
    preset = "gpu" if args.gpu else "smoke" if args.smoke else "peers" if args.peers else "cpu"
    workloads = args.workloads or list(PRESETS[preset])
    configurations = args.configurations or default_configurations(preset)
    repeats = args.repeats or (1 if args.smoke else 5)
    compiler = "eager" if args.smoke else "inductor"
    args.out.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (2 if args.smoke else 7)
    results = run_all(workloads, configurations, repeats, compiler, args.out, args.warm_cache, rounds,
                      second_process_configurations(preset, configurations))
    add_quality(results, args.out)
    comparison = first_block_comparison(results)
    calibrated = {c.name: first_block_comparison(results, c.name) for c in CALIBRATORS}
    document = {"date": datetime.date.today().isoformat(), "machine": machine(), "preset": preset,
                "compiler": compiler, "repeats": repeats, "rounds": rounds, "results": results,
                "first_block": comparison, "first_block_calibrated": calibrated}
    json_path = args.out / f"bench-{preset}.json"
    json_path.write_text(json.dumps(document, indent=1))
    print(table(results))
    print(patterns_text(results))
    print(comparison_text(comparison))
    for each in calibrated.values():
        print(comparison_text(each))
    print(f"\nwrote {json_path}")
    figure = plot(results, args.out / f"bench-{preset}.png")
    print(f"wrote {figure}" if figure else "(no PNG: pip install matplotlib for the figure)")
    for speed in speed_figures(results, args.out, preset):
        print(f"wrote {speed}")
    return 0



def default_configurations(preset: str) -> list[str]:
    """--peers: the first-block comparison; smoke: everything (the plumbing of every row); cpu and gpu: all but
    the peers, which --peers covers, so that the default run stays as long as it was."""
    if preset == "peers":
        return list(FIRST_BLOCK_COMPARISON)
    return [name for name, c in CONFIGURATIONS.items() if preset == "smoke" or c.peer is None]



def second_process_configurations(preset: str, configurations: list[str]) -> list[str]:
    """The configurations whose first generation also runs in a second new process, with the Inductor cache the
    first left (the `second process s` column): plain Inductor and every cachepass row; smoke: plain Inductor and
    the default method's row (the plumbing, at two processes' cost)."""
    rows = [c for c in configurations if c == "torch.compile (inductor)" or CONFIGURATIONS[c].cachepass]
    if preset == "smoke":
        rows = [c for c in rows if not CONFIGURATIONS[c].cachepass or c == CACHEPASS_OF[default_method().name]]
    return rows


def machine() -> dict[str, Any]:
    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    from importlib.metadata import PackageNotFoundError, version

    for package in ("diffusers", "cache-dit", "para-attn"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            pass
    return info
