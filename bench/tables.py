"""The bench's printed text: the table of every row, the step patterns and the first-block comparison."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from .orchestrate import measured
from .quality import TARGET_COMPILED, TARGET_EAGER


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
                     _x(r["speedup_vs_eager"]), _x(r["speedup_vs_inductor"]), f"{r['warmup_seconds']:.1f}", second_process(r),
                     f"{r['dynamo_graphs']}/{r['recompiles']}/{r['graph_breaks']}" + (" eager!" if r["fell_back_to_eager"] else ""),
                     r["inductor_compiles"], f"{r['peak_memory_bytes'] / 2**20:,.0f}",
                     _num(r["rel_l2_vs_uncached"], ".1e"), _num(r["psnr_vs_uncached"], ".1f"),
                     _num(r["max_diff_vs_hook"], ".1e"), reused_steps(r), _num(r.get("host_reads"), "d"),
                     (r.get("fullgraph") or "-").split(":")[0],
                     "-" if r["efficiency"] is None else f"{r['ideal_loop_seconds']:.3f} ({r['efficiency']:.2f})",
                     _num(r.get("runtime_ms_per_step"), ".2f")))
    text = tabulate(rows, headers=("workload", "configuration", "loop s", "ms/step", "vs eager", "vs inductor",
                                   "first generation s", "second process s", "graphs/recompiles/breaks", "inductor compiles", "peak MiB",
                                   "rel L2", "PSNR dB", "max diff vs hook", "reused steps", "host reads",
                                   "fullgraph", "ideal s (efficiency)", "runtime ms/step"))
    notes = ["loop s, ms/step: median of the paired timing's rounds (every configuration's worker, one loop each "
             "in turn); * = median of the configuration's own worker's loops (no rounds)",
             "ideal s (efficiency): the time the variants themselves took inside each paired loop, plus the loop's "
             "own work; efficiency = median over rounds of ideal / loop (variants timed alone instead: "
             "efficiency_alone in the JSON); runtime ms/step: the cachepass runtime's own time per step (its calls "
             "minus the variants inside them, clocked in the same loops); the rest of ideal-to-loop is Dynamo's "
             "per-call work, the same for any torch.compile model (dynamo_ms_per_step in the JSON)",
             "first generation s: the first loop in a new process, compiles included, with a cold Inductor cache "
             "(unless --warm-cache); second process s: the same in another new process with the cache the first "
             "left, and its misses in Inductor's FX graph and AOTAutograd caches (torch's counters; per variant in "
             "the JSON)",
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
            if r["workload"] == workload and measured(r) and r.get("pattern"):
                groups.setdefault(r["pattern"], []).append(r["configuration"])
        if groups:
            lines.append(f"\nstep patterns of {workload} (C computed, R reused):")
            lines += [f"  {pattern}  {', '.join(names)}" for pattern, names in groups.items()]
    return "\n".join(lines)


def comparison_text(comparison: dict[str, Any]) -> str:
    lines = []
    for workload, c in comparison.items():
        verdict = "met" if c["target_met"] else "NOT met"
        lines.append(f"\n{c['cachepass']} against the other first-block caches on {workload} (target: >= "
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


def second_process(result: dict[str, Any]) -> str:
    """The second process's first generation and its cache misses, or why there is none."""
    if "second_process_error" in result:
        return "FAILED"
    if result.get("second_process_seconds") is None:
        return "-"
    return f"{result['second_process_seconds']:.1f} ({result['second_process_cache']['missed']} missed)"


def reused_steps(result: dict[str, Any]) -> str:
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
