"""`python -m bench`: every configuration on every workload of a preset, side by side in one run.

Each (workload, configuration) runs in its own worker process (bench/worker.py) with a fresh
Inductor cache, so compile times are cold and memory peaks are its own. On CPU workloads every worker
also times an uncached eager copy of the model between its timed loops: speedups are taken against
that, so that the machine's drift between workers does not enter them (Inductor's speedup is likewise
the ratio of the two configurations' speedups over their own eager references). This process then
computes quality against the uncached eager run, prints a table, and writes a JSON file and, when
matplotlib is installed, a PNG of the time per step with the cachepass variant of each step marked.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from cachepass.measure import max_abs, psnr, rel_l2

from .configurations import CONFIGURATIONS, HOOK_OF
from .workloads import PRESETS, WORKLOADS

EXAMPLES = """examples:
  python -m bench                       # CPU: small CogVideoX and Latte, 50 steps
  python -m bench --gpu                 # CogVideoX-2b config on CUDA, bf16, batched CFG, 20 steps
  python -m bench --smoke --out /tmp/b  # seconds, every configuration and field
  python -m bench --configurations eager "torch.compile (inductor)" "cachepass PAB" """


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--gpu", action="store_true", help="the real CogVideoX-2b configuration on CUDA")
    preset.add_argument("--smoke", action="store_true",
                        help="tiny model, 8 steps, 1 repeat, torch.compile's eager backend: checks the plumbing")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), help="override the preset's workloads")
    parser.add_argument("--configurations", nargs="+", choices=list(CONFIGURATIONS), default=list(CONFIGURATIONS),
                        metavar="NAME", help=f"configurations to run (default: all): {', '.join(CONFIGURATIONS)}")
    parser.add_argument("--repeats", type=int, default=None, help="timed loops after the warm-up (default: 5; smoke 1)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for JSON and PNG")
    parser.add_argument("--warm-cache", action="store_true",
                        help="share one Inductor cache between workers (compile times are then not cold)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = "gpu" if args.gpu else "smoke" if args.smoke else "cpu"
    workloads = args.workloads or list(PRESETS[preset])
    repeats = args.repeats or (1 if args.smoke else 5)
    compiler = "eager" if args.smoke else "inductor"
    args.out.mkdir(parents=True, exist_ok=True)
    results = run_all(workloads, args.configurations, repeats, compiler, args.out, args.warm_cache)
    add_quality(results, args.out)
    document = {"date": datetime.date.today().isoformat(), "machine": machine(), "preset": preset,
                "compiler": compiler, "repeats": repeats, "results": results}
    json_path = args.out / f"bench-{preset}.json"
    json_path.write_text(json.dumps(document, indent=1))
    print(table(results))
    print(f"\nwrote {json_path}")
    figure = plot(results, args.out / f"bench-{preset}.png")
    print(f"wrote {figure}" if figure else "(no PNG: pip install matplotlib for the figure)")
    return 0


def run_all(workloads: list[str], configurations: list[str], repeats: int, compiler: str, out: Path,
            warm_cache: bool) -> list[dict[str, Any]]:
    jobs = [(w, c) for w in workloads for c in configurations]
    results = []
    shared_cache = tempfile.mkdtemp(prefix="cachepass-bench-inductor-")
    for index, (workload, configuration) in enumerate(jobs):
        _progress(index, len(jobs), f"{workload}: {configuration}")
        stem = out / f"{workload}--{_slug(configuration)}"
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": shared_cache if warm_cache else tempfile.mkdtemp(
            prefix="cachepass-bench-inductor-")}
        command = [sys.executable, "-m", "bench.worker", workload, configuration, "--repeats", str(repeats),
                   "--compiler", compiler, "--json", f"{stem}.json", "--latent", f"{stem}.pt"]
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
        if done.returncode != 0:
            results.append({"workload": workload, "configuration": configuration, "error": done.stderr[-2000:]})
            continue
        results.append(json.loads(Path(f"{stem}.json").read_text()))
    _progress(len(jobs), len(jobs), "done")
    return results


def add_quality(results: list[dict[str, Any]], out: Path) -> None:
    """Final-latent quality against the same workload's uncached eager run and against the diffusers
    hook of the same method; speedups against eager and Inductor."""
    def latent(result: dict[str, Any]) -> torch.Tensor:
        return torch.load(out / f"{result['workload']}--{_slug(result['configuration'])}.pt")

    by_key = {(r["workload"], r["configuration"]): r for r in results if "error" not in r}
    for result in by_key.values():
        workload = result["workload"]
        eager = by_key.get((workload, "eager"))
        inductor = by_key.get((workload, "torch.compile (inductor)"))
        hook = by_key.get((workload, HOOK_OF.get(result["method"], "")))
        mine = latent(result)
        result["speedup_vs_eager"] = _speedup(result, eager)
        inductor_speedup = _speedup(inductor, eager) if inductor else None
        result["speedup_vs_inductor"] = (result["speedup_vs_eager"] / inductor_speedup
                                         if inductor_speedup and result["speedup_vs_eager"] else None)
        result["rel_l2_vs_uncached"] = rel_l2(mine, latent(eager)) if eager else None
        result["psnr_vs_uncached"] = psnr(mine, latent(eager)) if eager else None
        result["max_diff_vs_hook"] = max_abs(mine, latent(hook)) if hook else None


def _speedup(result: dict[str, Any], eager: dict[str, Any] | None) -> float | None:
    """Against the eager loop timed in the same worker between this configuration's loops when there is
    one (drift-free), else against the eager configuration's own worker."""
    if result.get("eager_interleaved_seconds"):
        return result["eager_interleaved_seconds"] / result["loop_seconds"]
    return eager["loop_seconds"] / result["loop_seconds"] if eager else None


def table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append((r["workload"], r["configuration"], "FAILED: " + r["error"].strip().splitlines()[-1][:80]))
            continue
        rows.append((r["workload"], r["configuration"], f"{r['loop_seconds']:.3f}", f"{r['ms_per_step']:.2f}",
                     _x(r["speedup_vs_eager"]), _x(r["speedup_vs_inductor"]), f"{r['warmup_seconds']:.1f}",
                     f"{r['dynamo_graphs']}/{r['recompiles']}/{r['graph_breaks']}" + (" eager!" if r["fell_back_to_eager"] else ""),
                     r["inductor_compiles"], f"{r['peak_memory_bytes'] / 2**20:,.0f}",
                     _num(r["rel_l2_vs_uncached"], ".1e"), _num(r["psnr_vs_uncached"], ".1f"),
                     _num(r["max_diff_vs_hook"], ".1e"),
                     "-" if r["efficiency"] is None else f"{r['ideal_loop_seconds']:.3f} ({r['efficiency']:.2f})"))
    return tabulate(rows, headers=("workload", "configuration", "loop s", "ms/step", "vs eager", "vs inductor",
                                   "warm-up s", "graphs/recompiles/breaks", "inductor compiles", "peak MiB",
                                   "rel L2", "PSNR dB", "max diff vs hook", "ideal s (efficiency)"))


def plot(results: list[dict[str, Any]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    workloads = list(dict.fromkeys(r["workload"] for r in results))
    fig, axes = plt.subplots(len(workloads), 1, figsize=(11, 4 * len(workloads)), squeeze=False)
    for axis, workload in zip(axes[:, 0], workloads):
        for r in (r for r in results if r["workload"] == workload and "error" not in r):
            steps = range(len(r["step_ms"]))
            axis.plot(steps, r["step_ms"], label=r["configuration"], linewidth=1)
            if r["variants"]:
                reuse = [i for i, v in enumerate(r["variants"]) if v != "compute"]
                axis.scatter(reuse, [r["step_ms"][i] for i in reuse], marker="v", s=18, zorder=3,
                             label=f"{r['configuration']}: reuse steps")
        axis.set_title(f"{workload}: time per step")
        axis.set_xlabel("step")
        axis.set_ylabel("ms")
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def machine() -> dict[str, Any]:
    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    try:
        import diffusers

        info["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    return info


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:60]:<60}", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)
