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
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from cachepass.measure import max_abs, median_ratio, psnr, rel_l2

from cachepass.methods import default_method

from .configurations import CACHEPASS_OF, CONFIGURATIONS, FIRST_BLOCK_COMPARISON, HOOK_OF, applies, why_not
from .peers import INSTALL, METHOD
from .turns import Rounds, Worker, in_turn
from .workloads import PRESETS, WORKLOADS

EXAMPLES = """examples:
  python -m bench                       # CPU: small CogVideoX and Latte, 50 steps
  python -m bench --gpu                 # CogVideoX-2b config on CUDA, bf16, batched CFG, 20 steps
  python -m bench --smoke --out /tmp/b  # about 4 minutes: every configuration and field
  python -m bench --peers               # first-block caches: cachepass, diffusers, cache-dit, ParaAttention
  python -m bench --configurations eager "torch.compile (inductor)" "{cachepass}" """


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, epilog=EXAMPLES.format(cachepass=CACHEPASS_OF[default_method().name]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--gpu", action="store_true", help="the real CogVideoX-2b configuration on CUDA")
    preset.add_argument("--smoke", action="store_true",
                        help="tiny model, 8 steps, 1 repeat, torch.compile's eager backend: checks the plumbing")
    preset.add_argument("--peers", action="store_true",
                        help="small Flux and CogVideoX, the first-block caches of cachepass, diffusers, cache-dit and "
                             f"ParaAttention beside eager and Inductor (needs {INSTALL})")
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
    preset = "gpu" if args.gpu else "smoke" if args.smoke else "peers" if args.peers else "cpu"
    workloads = args.workloads or list(PRESETS[preset])
    configurations = args.configurations or default_configurations(preset)
    repeats = args.repeats or (1 if args.smoke else 5)
    compiler = "eager" if args.smoke else "inductor"
    args.out.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (2 if args.smoke else 7)
    results = run_all(workloads, configurations, repeats, compiler, args.out, args.warm_cache, rounds)
    add_quality(results, args.out)
    comparison = first_block_comparison(results)
    document = {"date": datetime.date.today().isoformat(), "machine": machine(), "preset": preset,
                "compiler": compiler, "repeats": repeats, "rounds": rounds, "results": results,
                "first_block": comparison}
    json_path = args.out / f"bench-{preset}.json"
    json_path.write_text(json.dumps(document, indent=1))
    print(table(results))
    print(patterns_text(results))
    print(comparison_text(comparison))
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


def run_all(workloads: list[str], configurations: list[str], repeats: int, compiler: str, out: Path,
            warm_cache: bool, rounds: int) -> list[dict[str, Any]]:
    """Every (workload, configuration) in a cold worker, one at a time; then, per CPU workload, the rounds in
    turn across those workers, which waited with their warm models (bench/turns.py)."""
    chosen = {w: [c for c in configurations if applies(CONFIGURATIONS[c], WORKLOADS[w])] for w in workloads}
    # A peer that does not apply to a workload gets a row saying why (the others are simply not run there).
    results = [{"workload": w, "configuration": c, "skipped": why_not(CONFIGURATIONS[c], WORKLOADS[w])}
               for w in workloads for c in configurations
               if CONFIGURATIONS[c].peer and not applies(CONFIGURATIONS[c], WORKLOADS[w])]
    paired = [w for w in workloads if WORKLOADS[w].paired_timing and len(chosen[w]) > 1]
    labels = [f"{w}: {c}" for w in workloads for c in [*chosen[w], *(["paired timing"] if w in paired else [])]]
    progress = iter(enumerate(labels))
    shared_cache = tempfile.mkdtemp(prefix="cachepass-bench-inductor-")
    for workload in workloads:
        waiting: dict[str, Worker] = {}
        for configuration in chosen[workload]:
            _progress(*next(progress), len(labels))
            cache = shared_cache if warm_cache else tempfile.mkdtemp(prefix="cachepass-bench-inductor-")
            stem = out / f"{workload}--{_slug(configuration)}"
            worker = Worker(_worker_arguments(workload, configuration, repeats, compiler, stem), cache,
                            Path(f"{stem}.log"))
            if workload in paired and worker.measured():
                waiting[configuration] = worker  # warm, idle until the rounds
            else:
                results.append(_finished(worker, workload, configuration, stem))
            if cache != shared_cache:
                shutil.copytree(cache, shared_cache, dirs_exist_ok=True)
        if waiting:
            _progress(*next(progress), len(labels))
            loops = _rounds(waiting, rounds)
            results += [_finished(worker, workload, name, out / f"{workload}--{_slug(name)}")
                        for name, worker in waiting.items()]
            _attach_paired(results, workload, loops)
    _progress(len(labels), "done", len(labels))
    return results


def _worker_arguments(workload: str, configuration: str, repeats: int, compiler: str, stem: Path) -> list[str]:
    return [workload, configuration, "--repeats", str(repeats), "--compiler", compiler, "--json", f"{stem}.json",
            "--latent", f"{stem}.pt"]


def _rounds(workers: dict[str, Worker], rounds: int) -> Rounds | str:
    """The rounds in turn, or what went wrong (the workers are finished either way)."""
    if len(workers) < 2:
        return "fewer than two configurations measured: nothing to time in turn"
    try:
        return in_turn(workers, rounds)
    except RuntimeError as error:
        return str(error)


def _finished(worker: Worker, workload: str, configuration: str, stem: Path) -> dict[str, Any]:
    """Lets the worker finish and reads its measurement (or its failure)."""
    if worker.finish() != 0:
        return {"workload": workload, "configuration": configuration, "error": worker.log_tail()}
    return json.loads(Path(f"{stem}.json").read_text())


def _measured(result: dict[str, Any]) -> bool:
    return "error" not in result and "skipped" not in result


def _attach_paired(results: list[dict[str, Any]], workload: str, paired: Rounds | str) -> None:
    """The rounds' loop times, and for cachepass the paired efficiency (bench/turns.py): the median over rounds
    of ideal / loop, with the variants timed inside the loop (`efficiency`) or alone right after it
    (`efficiency_alone`). The worker's own figures stay under `worker_*`."""
    for result in results:
        if result["workload"] != workload or not _measured(result):
            continue
        name = result["configuration"]
        if isinstance(paired, str):
            result["paired_error"] = paired
            continue
        if name in paired.loops:
            result["paired_loops"] = paired.loops[name]
            result["paired_loop_seconds"] = statistics.median(paired.loops[name])
        if paired.ideal.get(name):
            loops = result["paired_loops"]
            result["paired_ideal"] = paired.ideal[name]
            result["worker_ideal_loop_seconds"] = result["ideal_loop_seconds"]
            result["worker_efficiency"] = result["efficiency"]
            result["ideal_loop_seconds"] = statistics.median(paired.ideal[name])
            result["efficiency"] = median_ratio(paired.ideal[name], loops)
            result["efficiency_alone"] = median_ratio(paired.ideal_alone[name], loops)
            if paired.runtime.get(name):
                steps = result["steps"]
                result["runtime_ms_per_step"] = 1000 * statistics.median(paired.runtime[name]) / steps
                result["dynamo_ms_per_step"] = 1000 * statistics.median(
                    (loop - ideal) / steps for loop, ideal in zip(loops, paired.ideal[name])
                ) - result["runtime_ms_per_step"]


def add_quality(results: list[dict[str, Any]], out: Path) -> None:
    """Final-latent quality against the same workload's uncached eager run and against the diffusers
    hook of the same method; speedups against eager and Inductor."""
    def latent(result: dict[str, Any]) -> torch.Tensor:
        return torch.load(out / f"{result['workload']}--{_slug(result['configuration'])}.pt")

    by_key = {(r["workload"], r["configuration"]): r for r in results if _measured(r)}
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
    """(vs eager, vs Inductor): medians of per-round ratios from the rounds in turn; without them (the GPU
    preset, whose machine does not drift), plain ratios of the workers' loop times."""
    if "paired_loops" in result:
        vs_eager, vs_inductor = (median_ratio(base["paired_loops"], result["paired_loops"])
                                 if base and "paired_loops" in base else None for base in (eager, inductor))
        return vs_eager, vs_inductor
    return (eager["loop_seconds"] / result["loop_seconds"] if eager else None,
            inductor["loop_seconds"] / result["loop_seconds"] if inductor else None)


def table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append((r["workload"], r["configuration"], "FAILED: " + r["error"].strip().splitlines()[-1][:80]))
            continue
        if "skipped" in r:  # listed under the table: its reason would widen the columns
            continue
        loop = r.get("paired_loop_seconds") or r["loop_seconds"]
        mark = "" if "paired_loop_seconds" in r else "*"
        rows.append((r["workload"], r["configuration"], f"{loop:.3f}{mark}", f"{1000 * loop / r['steps']:.2f}{mark}",
                     _x(r["speedup_vs_eager"]), _x(r["speedup_vs_inductor"]), f"{r['warmup_seconds']:.1f}",
                     f"{r['dynamo_graphs']}/{r['recompiles']}/{r['graph_breaks']}" + (" eager!" if r["fell_back_to_eager"] else ""),
                     r["inductor_compiles"], f"{r['peak_memory_bytes'] / 2**20:,.0f}",
                     _num(r["rel_l2_vs_uncached"], ".1e"), _num(r["psnr_vs_uncached"], ".1f"),
                     _num(r["max_diff_vs_hook"], ".1e"), _steps(r), _num(r.get("host_reads"), "d"),
                     (r.get("fullgraph") or "-").split(":")[0],
                     "-" if r["efficiency"] is None else f"{r['ideal_loop_seconds']:.3f} ({r['efficiency']:.2f})",
                     _num(r.get("runtime_ms_per_step"), ".2f")))
    text = tabulate(rows, headers=("workload", "configuration", "loop s", "ms/step", "vs eager", "vs inductor",
                                   "warm-up s", "graphs/recompiles/breaks", "inductor compiles", "peak MiB",
                                   "rel L2", "PSNR dB", "max diff vs hook", "reused steps", "host reads",
                                   "fullgraph", "ideal s (efficiency)", "runtime ms/step"))
    notes = ["loop s, ms/step: median of the paired timing's rounds (every configuration's worker, one loop each "
             "in turn); * = median of the configuration's own worker's loops (no rounds)",
             "ideal s (efficiency): the time the variants themselves took inside each paired loop, plus the loop's "
             "own work; efficiency = median over rounds of ideal / loop (variants timed alone instead: "
             "efficiency_alone in the JSON); runtime ms/step: the cachepass runtime's own time per step (its calls "
             "minus the variants inside them, clocked in the same loops); the rest of ideal-to-loop is Dynamo's "
             "per-call work, the same for any torch.compile model (dynamo_ms_per_step in the JSON)",
             "host reads: device-to-host reads per generation made deciding (counted in the watched decision "
             "functions; cachepass: its runtime's count); fullgraph: torch.compile(fullgraph=True) captures one "
             "call (the error's first line is in the JSON)"]
    notes += [f"paired timing of {r['workload']} failed: {r['paired_error'].strip().splitlines()[-1][:200]}"
              for r in results if r.get("paired_error") and r["configuration"] == "eager"]
    notes += [f"not run: {r['workload']}: {r['configuration']}: {r['skipped']}" for r in results if "skipped" in r]
    return "\n".join([text, "", *notes])


def patterns_text(results: list[dict[str, Any]]) -> str:
    """Each workload's step patterns (C computed, R reused), with the configurations that made each."""
    lines = []
    for workload in dict.fromkeys(r["workload"] for r in results):
        groups: dict[str, list[str]] = {}
        for r in results:
            if r["workload"] == workload and _measured(r) and r.get("pattern"):
                groups.setdefault(r["pattern"], []).append(r["configuration"])
        if groups:
            lines.append(f"\nstep patterns of {workload} (C computed, R reused):")
            lines += [f"  {pattern}  {', '.join(names)}" for pattern, names in groups.items()]
    return "\n".join(lines)


# cachepass's FirstBlockCache against the others at identical decisions: at least this much faster than each
# implementation under torch.compile, and faster than each in eager.
TARGET_COMPILED, TARGET_EAGER = 1.2, 1.0


def first_block_comparison(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per workload: how much faster cachepass FBC is than every other first-block implementation that made
    the same decisions (same step pattern), and whether the target holds: the median of per-round loop ratios
    of the rounds in turn, eager and compiled rows alike (without rounds: the ratio of the speedups over
    Inductor)."""
    comparison = {}
    for workload in dict.fromkeys(r["workload"] for r in results):
        rows = {r["configuration"]: r for r in results if r["workload"] == workload}
        mine = rows.get(CACHEPASS_OF[METHOD])
        if mine is None or not _measured(mine):
            continue
        against = [_against(mine, r) for name, r in rows.items()
                   if CONFIGURATIONS[name].method == METHOD and not CONFIGURATIONS[name].cachepass]
        compared = [a for a in against if a.get("same_steps")]
        comparison[workload] = {"pattern": mine.get("pattern"), "against": against,
                                "target_met": bool(compared) and all(a["met"] for a in compared)}
    return comparison


def _against(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    configuration = CONFIGURATIONS[other["configuration"]]
    entry: dict[str, Any] = {"configuration": configuration.name, "family": configuration.family,
                             "compiled": configuration.compiled}
    if not _measured(other):
        return {**entry, "not_run": other.get("skipped") or "failed"}
    if "paired_loops" in mine and "paired_loops" in other:
        ratio = median_ratio(other["paired_loops"], mine["paired_loops"])
    else:
        ratio = (mine["speedup_vs_inductor"] / other["speedup_vs_inductor"]
                 if mine.get("speedup_vs_inductor") and other.get("speedup_vs_inductor") else None)
    needed = TARGET_COMPILED if configuration.compiled else TARGET_EAGER
    same = other.get("pattern") is not None and other.get("pattern") == mine.get("pattern")
    met = same and ratio is not None and (ratio >= needed if configuration.compiled else ratio > needed)
    # What cachepass could reach with no overhead at all (its variants alone, inside the same rounds' loops):
    # at equal decisions the work is equal, and only the other's overhead is left to win.
    bound = (median_ratio(other["paired_loops"], mine["paired_ideal"])
             if "paired_ideal" in mine and "paired_loops" in other else None)
    return {**entry, "same_steps": same, "cachepass_faster": ratio, "needed": needed, "met": met,
            "zero_overhead_bound": bound}


def comparison_text(comparison: dict[str, Any]) -> str:
    lines = []
    for workload, c in comparison.items():
        verdict = "met" if c["target_met"] else "NOT met"
        lines.append(f"\n{CACHEPASS_OF[METHOD]} against the other first-block caches on {workload} (target: >= "
                     f"{TARGET_COMPILED}x over each under torch.compile, > {TARGET_EAGER}x over each in eager, "
                     f"at the same steps): {verdict}")
        for a in c["against"]:
            if "not_run" in a:
                lines.append(f"  {a['configuration']}: not run ({a['not_run'][:120]})")
            elif not a["same_steps"]:
                lines.append(f"  {a['configuration']}: other steps than cachepass, not compared")
            else:
                bound = (f"; {_x(a['zero_overhead_bound'])} with no runtime or Dynamo overhead at all"
                         if a.get("zero_overhead_bound") else "")
                lines.append(f"  {a['configuration']}: cachepass {_x(a['cachepass_faster'])} faster "
                             f"({'ok' if a['met'] else 'below the target'}{bound})")
    return "\n".join(lines)


FAMILY_COLOURS = {"cachepass": "tab:green", "diffusers": "tab:blue", "cache-dit": "tab:orange",
                  "ParaAttention": "tab:red", "none": "tab:gray"}


def speed_figures(results: list[dict[str, Any]], out: Path, preset: str) -> list[Path]:
    """Per workload, `bench-<preset>-<workload>-speed.png`: speed over plain Inductor against the final
    latent's rel L2 to the uncached run, one marker per configuration (circle: compiled, square: eager),
    coloured by whose implementation it is."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    for workload in dict.fromkeys(r["workload"] for r in results):
        rows = [r for r in results if r["workload"] == workload and _measured(r)
                and r.get("speedup_vs_inductor") and r.get("rel_l2_vs_uncached") is not None]
        if not rows:
            continue
        fig, axis = plt.subplots(figsize=(9, 5.5))
        for r in rows:
            configuration = CONFIGURATIONS[r["configuration"]]
            axis.scatter(r["rel_l2_vs_uncached"], r["speedup_vs_inductor"], s=46, zorder=3,
                         color=FAMILY_COLOURS.get(configuration.family, "black"),
                         marker="o" if configuration.compiled else "s")
            own = "" if r.get("timing") == "paired" else "*"  # as in the table: no rounds, its own worker's loops
            axis.annotate(r["configuration"] + own, (r["rel_l2_vs_uncached"], r["speedup_vs_inductor"]),
                          fontsize=6.5, xytext=(4, 3), textcoords="offset points")
        for family, colour in FAMILY_COLOURS.items():
            axis.scatter([], [], color=colour, label=family)
        axis.scatter([], [], color="black", marker="o", label="compiled")
        axis.scatter([], [], color="black", marker="s", label="eager")
        axis.axhline(1.0, color="gray", linewidth=0.6)
        axis.set_xscale("symlog", linthresh=1e-6)
        axis.set_xlim(left=0)  # rel L2 >= 0: no negative half
        axis.set_xlabel("final latent rel L2 vs uncached eager (symlog; * = its own worker's loops, no rounds)")
        axis.set_ylabel("speed over plain Inductor (x)")
        axis.set_title(f"{workload}: speed against error")
        axis.legend(fontsize=7, loc="best")
        fig.tight_layout()
        path = out / f"bench-{preset}-{workload}-speed.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


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
        for r in (r for r in results if r["workload"] == workload and _measured(r)):
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
    from importlib.metadata import PackageNotFoundError, version

    for package in ("diffusers", "cache-dit", "para-attn"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
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
