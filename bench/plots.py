"""The bench's figures (when matplotlib is installed): time per step, and speed against error per workload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .configurations import CONFIGURATIONS
from .orchestrate import measured


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
        rows = [r for r in results if r["workload"] == workload and measured(r)
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
        for r in (r for r in results if r["workload"] == workload and measured(r)):
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
