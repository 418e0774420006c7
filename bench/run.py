"""`python -m bench`: every configuration on every workload of a preset, side by side in one run.

Each (workload, configuration) runs in its own worker process (bench/worker.py) with a fresh Inductor
cache: compile times are cold, memory peaks and Dynamo counters are its own, and a cachepass worker times
each of its variants alone between its loops (the schedule's ideal time, and the efficiency).

Steady-state times on CPU come from a second phase (bench/paired.py): a shared CPU drifts by +-20% over
seconds, so the configurations of a workload are built in one process (on the Inductor cache its workers
left) and run one loop each in turn, for several rounds; speedups are medians of per-round ratios.
diffusers' hooks under torch.compile cannot join that process (their recompiles would disturb the
others); their speedup over eager is taken against an eager copy timed inside their own worker.

This process then computes quality against the uncached eager run, prints a table, and writes a JSON
file and, when matplotlib is installed, a PNG of the time per step with the cachepass variant of each
step marked.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from cachepass.measure import max_abs, median_ratio, psnr, rel_l2

from .configurations import CONFIGURATIONS, HOOK_OF, applies
from .paired import paired_configurations
from .workloads import PRESETS, WORKLOADS

EXAMPLES = """examples:
  python -m bench                       # CPU: small CogVideoX and Latte, 50 steps
  python -m bench --gpu                 # CogVideoX-2b config on CUDA, bf16, batched CFG, 20 steps
  python -m bench --smoke --out /tmp/b  # about a minute: every configuration and field
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
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of the paired timing on CPU workloads (default: 7; smoke 2)")
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
    rounds = args.rounds or (2 if args.smoke else 7)
    results = run_all(workloads, args.configurations, repeats, compiler, args.out, args.warm_cache, rounds)
    add_quality(results, args.out)
    document = {"date": datetime.date.today().isoformat(), "machine": machine(), "preset": preset,
                "compiler": compiler, "repeats": repeats, "rounds": rounds, "results": results}
    json_path = args.out / f"bench-{preset}.json"
    json_path.write_text(json.dumps(document, indent=1))
    print(table(results))
    print(f"\nwrote {json_path}")
    figure = plot(results, args.out / f"bench-{preset}.png")
    print(f"wrote {figure}" if figure else "(no PNG: pip install matplotlib for the figure)")
    return 0


def run_all(workloads: list[str], configurations: list[str], repeats: int, compiler: str, out: Path,
            warm_cache: bool, rounds: int) -> list[dict[str, Any]]:
    """Every (workload, configuration) in a cold worker; then, per CPU workload, the paired timing process
    on an Inductor cache merged from its workers (it compiles nothing new)."""
    chosen = {w: [c for c in configurations if applies(CONFIGURATIONS[c], WORKLOADS[w])] for w in workloads}
    paired = [w for w in workloads if WORKLOADS[w].paired_timing and len(paired_configurations(chosen[w])) > 1]
    labels = [f"{w}: {c}" for w in workloads for c in [*chosen[w], *(["paired timing"] if w in paired else [])]]
    progress = iter(enumerate(labels))
    results = []
    shared_cache = tempfile.mkdtemp(prefix="cachepass-bench-inductor-")
    for workload in workloads:
        for configuration in chosen[workload]:
            _progress(*next(progress), len(labels))
            cache = shared_cache if warm_cache else tempfile.mkdtemp(prefix="cachepass-bench-inductor-")
            results.append(_run_worker(workload, configuration, repeats, compiler, out, cache))
            if cache != shared_cache:
                shutil.copytree(cache, shared_cache, dirs_exist_ok=True)
        if workload in paired:
            _progress(*next(progress), len(labels))
            loops = _run_paired(workload, chosen[workload], rounds, compiler, out, shared_cache)
            _attach_paired(results, workload, loops)
    _progress(len(labels), "done", len(labels))
    return results


def _run_worker(workload: str, configuration: str, repeats: int, compiler: str, out: Path,
                cache: str) -> dict[str, Any]:
    stem = out / f"{workload}--{_slug(configuration)}"
    done = _python(["bench.worker", workload, configuration, "--repeats", str(repeats), "--compiler", compiler,
                    "--json", f"{stem}.json", "--latent", f"{stem}.pt"], cache)
    if done.returncode != 0:
        return {"workload": workload, "configuration": configuration, "error": done.stderr[-2000:]}
    return json.loads(Path(f"{stem}.json").read_text())


def _run_paired(workload: str, configurations: list[str], rounds: int, compiler: str, out: Path,
                cache: str) -> dict[str, Any] | str:
    path = out / f"{workload}--paired.json"
    done = _python(["bench.paired", workload, "--configurations", *configurations, "--rounds", str(rounds),
                    "--compiler", compiler, "--json", str(path)], cache)
    return json.loads(path.read_text()) if done.returncode == 0 else done.stderr[-2000:]


def _python(arguments: list[str], inductor_cache: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *arguments], env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": inductor_cache},
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)


def _attach_paired(results: list[dict[str, Any]], workload: str, paired: dict[str, Any] | str) -> None:
    """Paired loop times, and for cachepass the paired efficiency (bench/paired.py): the median over rounds
    of ideal / loop, with the variants timed inside the loop (`efficiency`) or alone right after it
    (`efficiency_alone`). The worker's own figures stay under `worker_*`."""
    for result in results:
        if result["workload"] != workload or "error" in result:
            continue
        name = result["configuration"]
        if isinstance(paired, str):
            result["paired_error"] = paired
            continue
        if name in paired["loops"]:
            result["paired_loops"] = paired["loops"][name]
            result["paired_loop_seconds"] = statistics.median(paired["loops"][name])
        if paired["ideal"].get(name):
            loops = result["paired_loops"]
            result["worker_ideal_loop_seconds"] = result["ideal_loop_seconds"]
            result["worker_efficiency"] = result["efficiency"]
            result["ideal_loop_seconds"] = statistics.median(paired["ideal"][name])
            result["efficiency"] = median_ratio(paired["ideal"][name], loops)
            result["efficiency_alone"] = median_ratio(paired["ideal_alone"][name], loops)


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
        result["timing"] = "paired" if "paired_loops" in result else "own worker"
        result["speedup_vs_eager"], result["speedup_vs_inductor"] = _speedups(result, eager, inductor)
        result["rel_l2_vs_uncached"] = rel_l2(mine, latent(eager)) if eager else None
        result["psnr_vs_uncached"] = psnr(mine, latent(eager)) if eager else None
        result["max_diff_vs_hook"] = max_abs(mine, latent(hook)) if hook else None
        # Equal decisions: a configuration that skipped other steps than the eager hook is not compared at equal work.
        result["same_steps_as_hook"] = (result.get("pattern") == hook.get("pattern")
                                        if hook and result.get("pattern") and hook.get("pattern") else None)


def _speedups(result: dict[str, Any], eager: dict[str, Any] | None,
              inductor: dict[str, Any] | None) -> tuple[float | None, float | None]:
    """(vs eager, vs Inductor). Paired configurations: medians of per-round ratios from the paired process.
    Others: against the eager copy timed in their own worker between their loops, and through Inductor's
    paired speedup over eager; without either (GPU preset), plain ratios of the workers' loop times."""
    if "paired_loops" in result:
        vs_eager, vs_inductor = (median_ratio(base["paired_loops"], result["paired_loops"])
                                 if base and "paired_loops" in base else None for base in (eager, inductor))
        return vs_eager, vs_inductor
    if result.get("eager_interleaved_seconds"):
        vs_eager = result["eager_interleaved_seconds"] / result["loop_seconds"]
        inductor_vs_eager = _speedups(inductor, eager, inductor)[0] if inductor else None
        return vs_eager, vs_eager / inductor_vs_eager if inductor_vs_eager else None
    return (eager["loop_seconds"] / result["loop_seconds"] if eager else None,
            inductor["loop_seconds"] / result["loop_seconds"] if inductor else None)


def table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append((r["workload"], r["configuration"], "FAILED: " + r["error"].strip().splitlines()[-1][:80]))
            continue
        loop = r.get("paired_loop_seconds") or r["loop_seconds"]
        mark = "" if "paired_loop_seconds" in r else "*"
        rows.append((r["workload"], r["configuration"], f"{loop:.3f}{mark}", f"{1000 * loop / r['steps']:.2f}{mark}",
                     _x(r["speedup_vs_eager"]), _x(r["speedup_vs_inductor"]), f"{r['warmup_seconds']:.1f}",
                     f"{r['dynamo_graphs']}/{r['recompiles']}/{r['graph_breaks']}" + (" eager!" if r["fell_back_to_eager"] else ""),
                     r["inductor_compiles"], f"{r['peak_memory_bytes'] / 2**20:,.0f}",
                     _num(r["rel_l2_vs_uncached"], ".1e"), _num(r["psnr_vs_uncached"], ".1f"),
                     _num(r["max_diff_vs_hook"], ".1e"), _steps(r),
                     "-" if r["efficiency"] is None else f"{r['ideal_loop_seconds']:.3f} ({r['efficiency']:.2f})"))
    text = tabulate(rows, headers=("workload", "configuration", "loop s", "ms/step", "vs eager", "vs inductor",
                                   "warm-up s", "graphs/recompiles/breaks", "inductor compiles", "peak MiB",
                                   "rel L2", "PSNR dB", "max diff vs hook", "reused steps", "ideal s (efficiency)"))
    notes = ["loop s, ms/step: median of the paired timing's rounds (one process, configurations in turn); "
             "* = median of the configuration's own worker's loops",
             "ideal s (efficiency): the time the variants themselves took inside each paired loop, plus the loop's "
             "own work; efficiency = median over rounds of ideal / loop (variants timed alone instead: "
             "efficiency_alone in the JSON)"]
    notes += [f"paired timing of {r['workload']} failed: {r['paired_error'].strip().splitlines()[-1][:200]}"
              for r in results if r.get("paired_error") and r["configuration"] == "eager"]
    return "\n".join([text, "", *notes])


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


def _progress(done: int, label: str, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:60]:<60}", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def _steps(result: dict[str, Any]) -> str:
    """Reused steps out of all, and whether they are the hook's own (= same steps, != other steps)."""
    pattern = result.get("pattern")
    if not pattern:
        return "-"
    same = {True: " =hook", False: " !=hook", None: ""}[result.get("same_steps_as_hook")]
    return f"{pattern.count('R')}/{len(pattern)}{same}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)
