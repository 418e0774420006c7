"""`python -m bench --tune`: the plan `cachepass.tune` finds for a quality budget against every method at the bench
workload's settings (diffusers' documented defaults, bench/workloads.py) and cache-dit's DBCache at its own
defaults, each measured for quality (PSNR of the final latent against the uncached eager run) and speed in the
same rounds (bench/orchestrate.py, bench/turns.py).

For each workload and budget the tuner runs in this process (its own compiles and rounds); the winners become
bench configurations ("tuned psnr>=30: ...", NOTE [Tuned rows reach the workers]) beside the others, and the table
gives, per budget: the tuned config and its speedup over eager, the fastest other configuration that meets the
same budget in the bench's own quality measurement and its speedup, and their ratio (the issue's target: 1.3x).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

import cachepass
from cachepass.measure import denoise
from cachepass.tune import tunable_methods

from .configurations import CACHE_DIT_DEFAULT, CACHEPASS_OF, add_tuned, tuned_name
from .orchestrate import measured, run_all
from .quality import add_quality
from .workloads import TUNE_PRESETS, WORKLOADS

TARGET = 1.3  # the tuned plan against the best default that meets the same budget


def tune_workload(workload_name: str, budgets: tuple[float, ...], methods: tuple[str, ...], compiler: str,
                  timing: dict[str, Any]) -> list[dict[str, Any]]:
    """One `cachepass.tune` per budget on the workload's model, loop and steps: the winners as rows for the
    tuned configurations (method, the config's fields, the tuner's own figures)."""
    workload = WORKLOADS[workload_name]
    demo = workload.model()
    chosen = tuple(m for m in methods if workload.fields(m) is not None)

    def generate(model: Any) -> torch.Tensor:
        return denoise(demo, model, workload.timesteps(), workload.guidance, time_steps=False).final

    tuned = []
    for budget in budgets:
        result = cachepass.tune(generate, {"psnr": budget}, chosen, model=demo.module,
                                options={"compiler": compiler}, progress=True, **timing)
        print(result.summary(), flush=True)
        if result.config is None:
            tuned.append({"workload": workload_name, "budget": budget, "config": None})
            continue
        row = result.table_row_of_winner()
        tuned.append({"workload": workload_name, "budget": budget, "method": result.method,
                      "config": row["config"], "fields": row["fields"], "calibrator": row["calibrator"],
                      "calibrator_fields": row["calibrator_fields"], "name": tuned_name(budget, row["config"]),
                      "tuner": {"predicted_s": result.predicted_seconds, "measured_s": result.measured_seconds,
                                "uncached_s": result.reference_seconds, "quality": result.quality,
                                "generations": result.generations, "candidates": len(result.table),
                                "notes": list(result.notes)}})
    torch._dynamo.reset()
    return tuned


def comparison(tuned: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (workload, budget): the tuned row against the fastest other row that meets the budget."""
    rows = []
    for plan in tuned:
        mine = [r for r in results if measured(r) and r["workload"] == plan["workload"]]
        row = next((r for r in mine if r["configuration"] == plan.get("name")), None)
        others = [r for r in mine if r["method"] != "none" and not r["configuration"].startswith("tuned ")
                  and (r["psnr_vs_uncached"] or 0) >= plan["budget"] and r["speedup_vs_eager"]]
        best = max(others, key=lambda r: r["speedup_vs_eager"], default=None)
        ratio = (row["speedup_vs_eager"] / best["speedup_vs_eager"]
                 if row and best and row["speedup_vs_eager"] else None)
        rows.append({"workload": plan["workload"], "budget": plan["budget"], "tuned": plan.get("config"),
                     "tuned_speedup": row and row["speedup_vs_eager"], "tuned_psnr": row and row["psnr_vs_uncached"],
                     "best_default": best and best["configuration"],
                     "best_default_speedup": best and best["speedup_vs_eager"],
                     "best_default_psnr": best and best["psnr_vs_uncached"], "ratio": ratio,
                     "target_met": None if ratio is None else ratio >= TARGET})
    return rows


def comparison_text(rows: list[dict[str, Any]]) -> str:
    def x(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    def db(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    table = [(r["workload"], f"psnr >= {r['budget']:g}", r["tuned"] or "none met", x(r["tuned_speedup"]),
              db(r["tuned_psnr"]), r["best_default"] or "-", x(r["best_default_speedup"]), db(r["best_default_psnr"]),
              x(r["ratio"])) for r in rows]
    return tabulate(table, headers=("workload", "budget (dB)", "tuned config", "speedup", "PSNR",
                                    "best default meeting it", "speedup", "PSNR", f"ratio (target {TARGET}x)"))


def main(preset: str, out: Path, rounds: int | None = None, warm_cache: bool = False) -> int:
    workloads, budgets, methods, default_rounds, compiler, timing = TUNE_PRESETS[preset]
    methods = methods or tuple(m.name for m in tunable_methods(None))  # None: every method with a search space
    out.mkdir(parents=True, exist_ok=True)
    tuned = [plan for w in workloads for plan in tune_workload(w, budgets, methods, compiler, timing)]
    tuned_path = out / f"tuned-{preset}.json"
    tuned_path.write_text(json.dumps([p for p in tuned if p["config"] is not None], indent=1))
    add_tuned(str(tuned_path.resolve()))  # NOTE [Tuned rows reach the workers]
    defaults = [CACHEPASS_OF[m] for m in methods] if preset == "smoke" else [
        name for w in workloads for m, name in CACHEPASS_OF.items() if WORKLOADS[w].fields(m) is not None]
    configurations = ["eager", *dict.fromkeys(defaults), CACHE_DIT_DEFAULT,
                      *(p["name"] for p in tuned if p["config"] is not None)]
    results = run_all(list(workloads), configurations, 1 if preset == "smoke" else 3, compiler, out, warm_cache,
                      rounds or default_rounds)
    add_quality(results, out)
    rows = comparison(tuned, results)
    from .run import machine

    document = {"date": datetime.date.today().isoformat(), "machine": machine(), "preset": preset,
                "compiler": compiler, "budgets": list(budgets), "methods": list(methods), "tuned": tuned,
                "results": results, "comparison": rows}
    path = out / f"bench-tune-{preset}.json"
    path.write_text(json.dumps(document, indent=1, default=str))
    print(comparison_text(rows))
    print(f"\nwrote {path}")
    return 0
